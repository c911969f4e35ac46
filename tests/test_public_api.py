"""The public surface: __all__ lists exactly the public names, and everything public is documented."""

from __future__ import annotations

import types

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
