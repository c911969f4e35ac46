"""The README's Python blocks and the example programs run as written (so they cannot rot)."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).parent.parent
RUN_TIMEOUT = 120.0


def python_blocks(markdown: pathlib.Path) -> list[str]:
    """The fenced ```python blocks of a markdown file, in order."""
    return re.findall(r"^```python\n(.*?)^```$", markdown.read_text(), flags=re.MULTILINE | re.DOTALL)


def run_program(path: pathlib.Path) -> str:
    """Run a Python file as a script (spawned workers can import its __main__) and return its output."""
    done = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=path.parent
    )
    assert done.returncode == 0, f"{path.name} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


README_BLOCKS = python_blocks(ROOT / "README.md")


def test_readme_has_its_examples() -> None:
    assert len(README_BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(README_BLOCKS)))
def test_readme_block_runs(index: int, tmp_path: pathlib.Path) -> None:
    script = tmp_path / f"readme_block_{index}.py"
    script.write_text(README_BLOCKS[index])
    run_program(script)


def test_particles_example_reports_every_step() -> None:
    output = run_program(ROOT / "examples" / "particles.py")
    assert "done: 400,000 particles, 4 workers x 40 steps, 160 progress rows" in output


def test_demo_example_estimates_pi() -> None:
    output = run_program(ROOT / "examples" / "demo.py")
    assert re.search(r"pi ~ 3\.1[0-9]{3}", output), output
