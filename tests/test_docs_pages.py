"""The pages' form: code that fits the docs' column, and an API reference of the public API only.

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
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

#: The widest code line, in characters. The code column of the docs (mkdocs-material at its default
#: font, both sidebars shown: a 61rem grid less two 12.1rem sidebars and the margins, 688 px at a
#: 20 px root size) holds 656 px of code text after padding, which is 80 characters of its
#: monospace font (0.6em of 13.6 px); 79 leaves a little room for fonts a bit wider. ruff formats
#: the docs' Python blocks to the same width (docs/.ruff.toml).
MAX_CODE_WIDTH = 79

_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<info>[^\n]*)\n(?P<body>.*?)^[ \t]*```[ \t]*$", re.MULTILINE | re.DOTALL)


def too_wide(page: pathlib.Path) -> list[tuple[int, str]]:
    """The lines (number, text) of a page's code blocks that are wider than the column: in every
    block of the README (GitHub shows it as written), in every block of a docs page but ``text``
    ones (program output and messages, which docs/stylesheets/extra.css wraps at the column)."""
    text = page.read_text()
    found = []
    for fence in _FENCE.finditer(text):
        language = fence["info"].split()[0] if fence["info"].strip() else ""
        if language == "text" and page.name != "README.md":
            continue
        first = text.count("\n", 0, fence.start()) + 2
        found += [
            (number, line)
            for number, line in enumerate(fence["body"].splitlines(), first)
            if len(line) > MAX_CODE_WIDTH
        ]
    return found


def test_code_lines_fit_the_docs_column() -> None:
    wide = [
        f"{page.relative_to(ROOT)}:{number}: {len(line)} characters: {line}"
        for page in PAGES
        for number, line in too_wide(page)
    ]
    assert not wide, f"code lines wider than {MAX_CODE_WIDTH} characters:\n" + "\n".join(wide)


def test_the_width_check_sees_wide_lines(tmp_path: pathlib.Path) -> None:
    wide = "x = " + "1" * 80
    text = f"```python\n{wide}\n```\n\n```text\n{wide}\n```\n\n  ```bash\n  {wide}\n  ```\n"
    page = tmp_path / "page.md"
    page.write_text(text)
    assert [number for number, _ in too_wide(page)] == [2, 10]  # a docs page: output may wrap
    readme = tmp_path / "README.md"
    readme.write_text(text)
    assert [number for number, _ in too_wide(readme)] == [2, 6, 10]


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
