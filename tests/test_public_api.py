"""The public surface: __all__ lists exactly the public names, everything public is documented, and
public classes carry the path they are imported by (in reprs, tracebacks and pickles)."""

from __future__ import annotations

import errno
import pathlib
import pickle
import types
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.context import BaseContext

import pytest
from helpers import JOIN_TIMEOUT, Script, describe_exception, raise_library_error

import shmstruct


def test_all_matches_public_names() -> None:
    # dir(), not vars(): some public names load on first use (the module's __getattr__).
    public = {
        name
        for name in dir(shmstruct)
        if not name.startswith("_") and not isinstance(getattr(shmstruct, name), types.ModuleType)
    }
    assert set(shmstruct.__all__) == public
    assert len(shmstruct.__all__) == len(set(shmstruct.__all__))


def test_public_callables_and_classes_have_docstrings() -> None:
    for name in shmstruct.__all__:
        value = getattr(shmstruct, name)
        if callable(value) and not name.startswith(("int", "uint", "float")):
            assert value.__doc__, f"shmstruct.{name} has no docstring"


def test_package_is_typed() -> None:
    import importlib.resources

    assert importlib.resources.files("shmstruct").joinpath("py.typed").is_file()


PUBLIC_CLASSES = [name for name in shmstruct.__all__ if isinstance(getattr(shmstruct, name), type)]
ERRORS = [name for name in PUBLIC_CLASSES if issubclass(getattr(shmstruct, name), BaseException)]


def test_public_classes_carry_their_public_path() -> None:
    assert {"FieldValueError", "DeadHolderWarning", "SharedStruct", "Table", "SharedLock"} <= set(PUBLIC_CLASSES)
    for name in PUBLIC_CLASSES:
        cls = getattr(shmstruct, name)
        assert cls.__module__ == "shmstruct", name
        assert repr(cls) == f"<class 'shmstruct.{name}'>"
        assert pickle.loads(pickle.dumps(cls)) is cls


def test_an_uncaught_error_in_a_child_names_the_public_class(tmp_path: pathlib.Path) -> None:
    script = Script(
        str(tmp_path),
        """
        import multiprocessing as mp
        from helpers import State, write_out_of_range

        if __name__ == "__main__":
            child = mp.get_context("spawn").Process(target=write_out_of_range, args=(State(),))
            child.start()
            child.join()
            print("child exited with", child.exitcode, flush=True)
            State(steps="x")  # uncaught here too
        """,
    )
    assert script.expect("child exited with") == "child exited with 1"
    status, err = script.finish()
    assert status == 1
    assert "\nshmstruct.FieldValueError: State.level: 300 is out of range for int8_t" in err, err
    assert "\nshmstruct.FieldTypeError: State.steps" in err, err
    assert "_errors" not in err, err


# What each error provoked in a child says (a part of it).
_MESSAGES = {
    "FieldValueError": "State.level: 300 is out of range",
    "FieldTypeError": "State.steps",
    "SchemaError": "Bad.items",
    "SharedMemoryGoneError": "no shared segment named",
    "SegmentNameError": "'a/b'",
    "LogFullError": "Counter log is full",
    "SegmentExistsError": "already exists",
    "SchemaMismatchError": "holds schema 'Counter', not 'Vec3'",
    "SegmentError": "holds a struct of Counter, not a table",
    "SharedMemoryFullError": "no room in /dev/shm",
    "DeadHolderWarning": "was taken over",
    "ShmStructError": "base",
}


def test_errors_pickle_both_ways_between_processes(ctx: BaseContext) -> None:
    assert set(ERRORS) == set(_MESSAGES)
    raised: dict[str, BaseException] = {}
    with ProcessPoolExecutor(1, mp_context=ctx) as executor:
        for name in ERRORS:
            # Raised in the child, pickled there, unpickled here.
            with pytest.raises(getattr(shmstruct, name)) as info:
                executor.submit(raise_library_error, name).result(timeout=JOIN_TIMEOUT)
            assert type(info.value) is getattr(shmstruct, name)
            assert _MESSAGES[name] in str(info.value)
            raised[name] = info.value
        full = raised["SharedMemoryFullError"]
        assert isinstance(full, OSError) and full.errno == errno.ENOSPC
        for name, exc in raised.items():  # and back again, unpickled by the child
            seen = executor.submit(describe_exception, exc).result(timeout=JOIN_TIMEOUT)
            assert seen == ("shmstruct", name, str(exc), exc.args)
