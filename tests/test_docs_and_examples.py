"""Every Python block of the README and the docs, and every example program, runs as written and
prints what the page shows (so the docs cannot rot).

Conventions for pages (docs/**/*.md and README.md):

- A ```` ```python ```` block is a complete program: it is written to a file and run as a script
  (so spawned workers can import it), from an empty directory.
- A ```` ```text title="Output" ```` block right after it is what the program must print, exactly
  (trailing spaces and blank lines aside).
- A ```` ```python title="mypy" ```` block is checked with ``mypy --strict`` instead of run; the
  output block after it is mypy's report, with the file called ``example.py``.
- A ```` ```py ```` block is shown, never run: fragments and deliberate mistakes.
"""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys
from dataclasses import dataclass

import pytest

ROOT = pathlib.Path(__file__).parent.parent
RUN_TIMEOUT = 120.0

_FENCE = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Block:
    """One runnable block of a page, and the output the page shows for it (if any)."""

    page: str
    line: int
    code: str
    mypy: bool
    output: str | None

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def blocks_of(page: pathlib.Path) -> list[Block]:
    """The runnable blocks of a markdown page, each with the output block that follows it."""
    text = page.read_text()
    fences = list(_FENCE.finditer(text))
    found: list[Block] = []
    for index, fence in enumerate(fences):
        info = fence["info"].strip()
        if not info.startswith("python"):
            continue
        output = None
        if index + 1 < len(fences):
            following = fences[index + 1]
            between = text[fence.end() : following.start()]
            if not between.strip() and following["info"].strip() == 'text title="Output"':
                output = following["body"]
        line = text.count("\n", 0, fence.start()) + 1
        relative = str(page.relative_to(ROOT))
        found.append(Block(relative, line, fence["body"], 'title="mypy"' in info, output))
    return found


def _normalised(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


def run_program(path: pathlib.Path) -> str:
    """Run a Python file as a script from its own directory and return what it printed."""
    done = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=path.parent
    )
    assert done.returncode == 0, f"{path.name} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCKS = [block for page in PAGES for block in blocks_of(page)]


def test_the_pages_have_runnable_examples() -> None:
    pages_with_blocks = {block.page for block in BLOCKS}
    assert "README.md" in pages_with_blocks and "docs/quickstart.md" in pages_with_blocks
    assert len(BLOCKS) >= 20


@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
def test_block_runs_and_prints_what_the_page_shows(block: Block, tmp_path: pathlib.Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(block.code)
    if block.mypy:
        from mypy import api

        report, _, _ = api.run(["--strict", "--no-incremental", "--no-error-summary", str(script)])
        printed = report.replace(str(script), "example.py")
    else:
        printed = run_program(script)
    if block.output is not None:
        assert _normalised(printed) == _normalised(block.output), f"{block.id} printed:\n{printed}"


EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_example_runs(example: pathlib.Path) -> None:
    output = run_program(example)
    assert output.strip(), f"{example.name} printed nothing"


def test_particles_example_reports_every_step() -> None:
    output = run_program(ROOT / "examples" / "particles.py")
    assert "done: 400,000 particles, 4 workers x 40 steps, 160 progress rows" in output


def test_monte_carlo_example_estimates_pi() -> None:
    output = run_program(ROOT / "examples" / "monte_carlo.py")
    assert re.search(r"pi ~ 3\.1[0-9]{3}", output), output
