"""User-facing typing: mypy --strict on real snippets (cases that must pass and must fail)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("mypy")

HERE = pathlib.Path(__file__).parent
ROOT = HERE.parent


def run_mypy(cache: pathlib.Path, *args: str) -> tuple[str, int]:
    """mypy's report and exit status. (In its own process: mypy in this one would leave hundreds of
    thousands of objects behind, which every later garbage collection of the suite would walk.)"""
    options = ["--strict", "--warn-unused-ignores", "--show-error-codes", "--cache-dir", str(cache / "typing")]
    done = subprocess.run([sys.executable, "-m", "mypy", *options, *args], capture_output=True, text=True)
    return done.stdout + done.stderr, done.returncode


def test_usage_snippets_type_check_as_documented(mypy_cache: pathlib.Path) -> None:
    output, status = run_mypy(mypy_cache, str(HERE / "typechecking" / "usage.py"))
    assert status == 0, output


def test_wrong_assignments_fail_with_a_clear_message(tmp_path: pathlib.Path, mypy_cache: pathlib.Path) -> None:
    snippet = tmp_path / "wrong.py"
    snippet.write_text(
        "from shmstruct import SharedStruct\n"
        "class S(SharedStruct):\n"
        "    steps: int = 0\n"
        "s = S(steps='x')\n"
        "s.steps = 'y'\n"
        "s.other = 1\n"
    )
    output, status = run_mypy(mypy_cache, str(snippet))
    assert status == 1
    assert 'Argument "steps" to "S" has incompatible type "str"; expected "int"' in output
    assert 'Incompatible types in assignment (expression has type "str", variable has type "int")' in output
    assert '"S" has no attribute "other"' in output


def test_package_is_strict_clean(mypy_cache: pathlib.Path) -> None:
    output, status = run_mypy(mypy_cache, str(ROOT / "shmstruct"))
    assert status == 0, output
