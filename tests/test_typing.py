"""User-facing typing: mypy --strict and pyright (strict) on real snippets, with cases that must pass
(``assert_type``) and cases that must fail (a ``# type: ignore[code]`` that each checker must find
necessary: mypy's ``--warn-unused-ignores``, pyright's ``reportUnnecessaryTypeIgnoreComment``)."""

from __future__ import annotations

import json
import pathlib
import shutil
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
    output, status = run_mypy(mypy_cache, str(ROOT / "src" / "shmstruct"))
    assert status == 0, output


#: pyright in strict mode, plus a report of every ``# type: ignore`` that suppresses nothing, so that a
#: must-fail line pyright accepts fails the test; ``Unknown`` types are errors in strict mode.
PYRIGHT_CONFIG = {
    "typeCheckingMode": "strict",
    "reportUnnecessaryTypeIgnoreComment": "error",
    "pythonVersion": "3.10",
}


def run_pyright(folder: pathlib.Path, *files: pathlib.Path) -> dict[str, object]:
    """pyright's JSON report on ``files``, run in ``folder`` (where its configuration is) against
    this interpreter's environment."""
    pyright = shutil.which("pyright", path=str(pathlib.Path(sys.executable).parent)) or shutil.which("pyright")
    if pyright is None:
        pytest.skip("pyright is not installed (it is in the test extra: pip install -e '.[test]')")
    (folder / "pyrightconfig.json").write_text(json.dumps(PYRIGHT_CONFIG))
    done = subprocess.run(
        [pyright, "--outputjson", "--pythonpath", sys.executable, *map(str, files)],
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=600,
    )
    report: dict[str, object] = json.loads(done.stdout)
    return report


def _errors(report: dict[str, object]) -> list[str]:
    diagnostics = report["generalDiagnostics"]
    assert isinstance(diagnostics, list)
    return [
        f"{d['file']}:{d['range']['start']['line'] + 1}: {d['message']} ({d.get('rule', '')})"
        for d in diagnostics
        if d["severity"] == "error"
    ]


def test_usage_snippets_pass_pyright_strict(tmp_path: pathlib.Path) -> None:
    usage = tmp_path / "usage.py"
    usage.write_text((HERE / "typechecking" / "usage.py").read_text())
    report = run_pyright(tmp_path, usage)
    assert _errors(report) == []
    summary = report["summary"]
    assert isinstance(summary, dict) and summary["filesAnalyzed"] == 1


def test_wrong_lines_fail_under_pyright(tmp_path: pathlib.Path) -> None:
    snippet = tmp_path / "wrong.py"
    snippet.write_text(
        "import shmstruct\n"
        "from shmstruct import SharedStruct\n"
        "class S(SharedStruct):\n"
        "    steps: int = 0\n"
        "    extra: float = 0.0\n"
        "s = S(steps='x')\n"
        "s.steps = 'y'\n"
        "tab = shmstruct.Table.attach('rows', S)\n"
        "tab[0].extra = 'not a float'\n"
        "tab[0].nonexistent = 1\n"
    )
    errors = _errors(run_pyright(tmp_path, snippet))
    failing_lines = sorted({int(error.split(":")[1]) for error in errors})
    assert failing_lines == [6, 7, 9, 10], errors
