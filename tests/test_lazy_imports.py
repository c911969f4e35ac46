"""What shmstruct costs a process that does not need all of it: a fresh interpreter that imports
shmstruct, defines a schema without arrays, creates, writes and attaches a struct, and a spawn or
forkserver child handed one, import neither numpy nor pydantic nor typing (nor other heavy standard
modules); the public names that need them load on first use, and work."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from helpers import SOURCE_PATH, TESTS_DIR, unique_name
from lazy_child import HEAVY


def _run(code: str) -> object:
    """Run ``code`` in a fresh ``python -c`` (which has no main script for a spawned child to
    re-import) with the tests and the package on its path; the JSON it prints last."""
    prelude = f"import sys\nsys.path[:0] = {[TESTS_DIR, *SOURCE_PATH]!r}\n"
    done = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_import_define_create_and_attach_import_nothing_heavy() -> None:
    steps = _run(f"""
        import sys
        def heavy_loaded():
            return sorted(name for name in {HEAVY!r} if name in sys.modules)
        steps = {{"start": heavy_loaded()}}
        import shmstruct
        from shmstruct import Atomic, SharedStruct, atomic, text
        steps["import"] = heavy_loaded()

        class Job(SharedStruct):
            steps: int = 0
            name: str = text(16)
            done: Atomic[int] = atomic()

        steps["define"] = heavy_loaded()
        s = shmstruct.options(Job, name={unique_name("lazy-job")!r})(steps=7, name="first")
        s.done.add(2)
        other = shmstruct.attach(Job, {unique_name("lazy-job")!r})
        assert (other.steps, other.name, other.done.load()) == (7, "first", 2)
        with s.lock:
            s.steps += 1
        steps["use"] = heavy_loaded()
        shmstruct.close(other)
        shmstruct.close(s)
        print(__import__("json").dumps(steps))
    """)
    assert isinstance(steps, dict)
    assert all(loaded == [] for loaded in steps.values()), steps


def test_lazy_public_names_load_on_first_use() -> None:
    result = _run("""
        import json, sys
        import shmstruct
        lazy = ("shmstruct._table", "shmstruct._aliases")
        before = [name for name in lazy if name in sys.modules]
        assert shmstruct.int8 is shmstruct.int8 and shmstruct.Table is shmstruct.Table
        from shmstruct import Log, float16, uint64
        after = [name for name in lazy if name in sys.modules]
        listed = all(name in dir(shmstruct) for name in shmstruct.__all__)
        try:
            shmstruct.no_such_name
        except AttributeError as exc:
            missing = str(exc)
        print(json.dumps([before, after, listed, missing]))
    """)
    assert result == [
        [],
        ["shmstruct._table", "shmstruct._aliases"],
        True,
        "module 'shmstruct' has no attribute 'no_such_name'",
    ]


def test_star_import_and_sized_aliases_work() -> None:
    values = _run(f"""
        import json
        from shmstruct import *
        from shmstruct import SharedStruct

        class Sized(SharedStruct):
            small: int8 = 0
            big: uint64 = 0
            half: float16 = 0.0

        with options(Sized, name={unique_name("lazy-sized")!r})(small=-3, big=2**64 - 1, half=1.5) as s:
            values = [s.small, s.big, s.half]
            try:
                s.small = 300
            except FieldValueError as exc:
                values.append(str(exc))
            values.append(s.small)
        print(json.dumps(values))
    """)
    assert isinstance(values, list)
    small, big, half, error, after = values
    assert (small, big, half, after) == (-3, 2**64 - 1, 1.5, -3)
    assert "Sized.small" in error and "300" in error


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_a_child_handed_a_struct_imports_nothing_heavy(method: str) -> None:
    result = _run(f"""
        import json, multiprocessing as mp
        import shmstruct
        from lazy_child import Counter, report
        ctx = mp.get_context({method!r})
        s = shmstruct.options(Counter, name={unique_name("lazy-" + method)!r})(value=11)
        reader, writer = ctx.Pipe(duplex=False)
        child = ctx.Process(target=report, args=(s, writer))
        child.start()
        writer.close()
        value, heavy = reader.recv()
        child.join(120)
        shmstruct.close(s)
        print(json.dumps([child.exitcode, value, heavy]))
    """)
    assert result == [0, 11, []], f"a {method} child handed a struct: exit code, value, heavy modules {result}"
