"""The pages' form: an API reference of the public API only.

(What the pages' programs print is checked by test_docs_and_examples.py; the built site is checked
by docs_hooks.py during ``mkdocs build --strict``.)
"""

from __future__ import annotations

import ast
import inspect
import pathlib
import re

import shmstruct
from shmstruct import _block, _table

ROOT = pathlib.Path(__file__).parent.parent


def test_the_reference_shows_the_public_api() -> None:
    """docs/reference.md documents every name of shmstruct.__all__ (with a ``:::`` directive, or in
    a table of its own), and nothing else of the package."""
    page = (ROOT / "docs" / "reference.md").read_text()
    directives = re.findall(r"^::: shmstruct\.(\S+)$", page, re.MULTILINE)
    assert set(directives) <= set(shmstruct.__all__), "the reference documents names outside __all__"
    shown = {*directives, *re.findall(r"`(?:shmstruct\.)?(\w+)`", page)}
    assert set(shmstruct.__all__) <= shown, f"not in the reference: {set(shmstruct.__all__) - shown}"


def test_signatures_spell_out_the_default_mode() -> None:
    # The reference shows the run-time signatures' defaults; _functions spells DEFAULT_MODE out.
    for function in (shmstruct.options, shmstruct.table, shmstruct.log):
        assert inspect.signature(function).parameters["mode"].default == _block.DEFAULT_MODE


def test_the_facade_of_tables_and_logs_has_the_run_time_docstrings() -> None:
    """Table and Log load lazily, so the reference (and an editor) takes their docs from the typing
    facade; its docstrings are those of the classes that run, word for word."""
    facade = ast.parse((pathlib.Path(shmstruct.__file__).parent / "__init__.pyi").read_text())
    classes = {node.name: node for node in facade.body if isinstance(node, ast.ClassDef)}
    for name in ("Table", "Log"):
        runtime = getattr(_table, name)
        assert ast.get_docstring(classes[name]) == inspect.getdoc(runtime)
        for member in classes[name].body:
            if isinstance(member, ast.FunctionDef) and not member.name.startswith("_"):
                documented = ast.get_docstring(member)
                assert documented, f"{name}.{member.name} has no docstring in the facade"
                assert documented == inspect.getdoc(getattr(runtime, member.name)), f"{name}.{member.name}"
