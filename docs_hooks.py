"""MkDocs hooks (mkdocs.yml: ``hooks``): keep the package's private names out of the built pages.

- Cross-references to objects render with a tooltip naming the object's full path, and that path
  is where the object is defined: ``shmstruct._errors.FieldValueError``, or for a type variable of
  the typing facade ``shmstruct._typevars.Schema``. Those tooltips are dropped: a reader has no use
  for a private module's name.
- The API reference must show the public API only. After rendering, every anchor of
  ``reference.md`` must be a name of ``shmstruct.__all__`` (or a public member of one), and the
  page may not show a private name of the package, a Sphinx role that Markdown does not render
  (``:class:`...```), or one of the internal helpers that earlier versions of the reference showed.
  A violation is a warning, which ``mkdocs build --strict`` (CI) turns into a failed build.
"""

from __future__ import annotations

import ast
import html
import logging
import pathlib
import re
from typing import Any

log = logging.getLogger("mkdocs.plugins.shmstruct")

ROOT = pathlib.Path(__file__).parent
REFERENCE = "reference.md"

_PRIVATE_TOOLTIP = re.compile(r'\s+title="[^"]*\bshmstruct\._[^"]*"')
_ANCHOR = re.compile(r'\bid="(shmstruct\.[^"]*)"')
_TAG = re.compile(r"<[^>]+>")
# In the visible text: a private name of the package, a name that starts with one underscore (the C
# type _Float16 aside), a Sphinx role, or an internal helper.
_PRIVATE_TEXT = re.compile(
    r"\bshmstruct\._(?!_)\w+|(?<![\w.])_(?!Float16\b)[A-Za-z]\w*|:(?:class|meth|func|data|mod|attr):`?"
    r"|\b(?:bookkeeping|initialise|held_by_others|DEFAULT_MODE|StructFactory|Record|Mutex)\b"
)


def public_names() -> set[str]:
    """``shmstruct.__all__``, read from the source (the docs build need not import the package)."""
    tree = ast.parse((ROOT / "src" / "shmstruct" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return set(ast.literal_eval(node.value))
    raise RuntimeError("src/shmstruct/__init__.py has no __all__")


def visible_text(page_html: str) -> str:
    """The text a reader sees (tags removed, entities decoded); code blocks included."""
    return html.unescape(_TAG.sub(" ", page_html))


def reference_problems(page_html: str) -> list[str]:
    """What the API reference shows that it should not."""
    found = [f"shows {match[0]!r}" for match in _PRIVATE_TEXT.finditer(visible_text(page_html))]
    public = public_names()
    for anchor in _ANCHOR.findall(page_html):
        name, *member = anchor.removeprefix("shmstruct.").split(".")
        if name not in public or any(part.startswith("_") for part in member):
            found.append(f"documents {anchor}, which is not public")
    return found


def on_page_content(html: str, page: Any, **kwargs: Any) -> str:
    """Check what the API reference shows (the page's content, before the theme wraps it)."""
    if page.file.src_uri == REFERENCE:
        for problem in reference_problems(html):
            log.warning("%s %s", REFERENCE, problem)
    return html


def on_post_page(output: str, page: Any, **kwargs: Any) -> str:
    """Drop private tooltips (cross-references are resolved once every page is rendered, so this
    runs on the finished page)."""
    return _PRIVATE_TOOLTIP.sub("", output)
