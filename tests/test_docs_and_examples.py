"""Every Python block of the README and the docs, and every example program, runs as written and
prints what the page shows (so the docs cannot rot).

Conventions for pages (docs/**/*.md and README.md):

- A ```` ```python ```` block is a complete program: it is written to a file and run as a script
  (so spawned workers can import it), from an empty directory.
- A ```` ```text title="Output" ```` block right after it is what the program must print, exactly
  (trailing spaces and blank lines aside).
- A ```` ```python title="mypy" ```` block is checked with ``mypy --strict`` instead of run; the
  output block after it is mypy's report, with the file called ``example.py``.
- A ```` ```python title="pyright" ```` block is checked with pyright in strict mode instead of
  run; the output block after it is pyright's report as its command line prints it, with the file
  called ``example.py``.
- A ```` ```python ```` block right after the comment ``<!-- mypy and pyright: no errors -->`` is
  run as usual, and also checked with both (as above), which must report nothing: the page says
  that the checkers accept it (say, because it shows what only the run time refuses).
- A ```` ```py ```` block is shown, never run: fragments and deliberate mistakes.

Pages and examples give segments natural fixed names ("build-status", "errors-demo-point"), which
would collide when two runs of the suite, or a reader's program, use them at the same time. So the
runner makes them unique to this run before it runs a program (see :func:`isolated`).
"""

from __future__ import annotations

import fcntl
import json
import os
import pathlib
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import termios
from dataclasses import dataclass
from typing import Any

import pytest
from helpers import RUN_PREFIX

ROOT = pathlib.Path(__file__).parent.parent
RUN_TIMEOUT = 300.0  # a hang guard: a busy machine may take long

_FENCE = re.compile(r"^```(?P<info>[^\n]*)\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
TYPE_CLEAN = "<!-- mypy and pyright: no errors -->"


@dataclass(frozen=True)
class Block:
    """One runnable block of a page, and the output the page shows for it (if any)."""

    page: str
    line: int
    code: str
    mypy: bool  # checked with mypy instead of run
    output: str | None
    pyright: bool = False  # checked with pyright instead of run
    type_clean: bool = False  # run, and both checkers must report nothing

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
        before = text[fences[index - 1].end() if index else 0 : fence.start()]
        type_clean = before.rstrip().endswith(TYPE_CLEAN)
        if index + 1 < len(fences):
            following = fences[index + 1]
            between = text[fence.end() : following.start()]
            if not between.strip() and following["info"].strip() == 'text title="Output"':
                output = following["body"]
        line = text.count("\n", 0, fence.start()) + 1
        relative = str(page.relative_to(ROOT))
        mypy, pyright = 'title="mypy"' in info, 'title="pyright"' in info
        assert not (type_clean and (mypy or pyright)), f"{relative}:{line}: {TYPE_CLEAN} before a checked block"
        found.append(Block(relative, line, fence["body"], mypy, output, pyright, type_clean))
    return found


def _normalised(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


# A segment name a program gives: name="...", .attach("..."), unlink("...") (an f-string's literal start too).
_GIVEN_NAME = re.compile(r"""(?:\bname\s*=\s*|\.attach\(\s*|\bunlink\(\s*)f?(["'])([A-Za-z0-9_.-]+)(?=\1|\{)""")


def isolated(code: str) -> str:
    """``code`` with every segment name it gives made unique to this run of the suite: the run's
    prefix goes in front of each such name wherever the code quotes it (also inside strings
    handed to other programs). Generated names already start with it (SHMSTRUCT_NAME_PREFIX).

    Rewriting rather than running each program in a private /dev/shm (``unshare -m`` with its own
    tmpfs): that needs privileges that CI containers often lack, which would leave two ways of
    running the same pages, with possibly different results; the rewrite works everywhere, and what
    a program leaves behind stays visible to the suite's leak check. :func:`run_program` takes the
    prefix out of what the program prints again, so that the output still reads as on the page.
    """
    names = {match[2] for match in _GIVEN_NAME.finditer(code)}
    if not names:
        return code
    alternatives = "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))
    quoted = re.compile(rf"""(?<=["'])(?=(?:{alternatives})(?![A-Za-z0-9_.-]))""")
    return quoted.sub(RUN_PREFIX, code)


def run_program(path: pathlib.Path) -> str:
    """Run a Python file as a script from its own directory and return what it printed, without
    this run's name prefix."""
    done = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=path.parent
    )
    assert done.returncode == 0, f"{path.name} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout.replace(RUN_PREFIX, "")


PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCKS = [block for page in PAGES for block in blocks_of(page)]


def test_the_pages_have_runnable_examples() -> None:
    pages_with_blocks = {block.page for block in BLOCKS}
    assert "README.md" in pages_with_blocks and "docs/quickstart.md" in pages_with_blocks
    assert len(BLOCKS) >= 20


def test_fixed_names_are_made_unique_to_the_run() -> None:
    code = """
s = Status.options(name="build-status")()
Status.attach('build-status'); shmstruct.unlink("build-status")
t = Status.table(3, name="build-statuses", keep=True)
subprocess.run([sys.executable, "-m", "shmstruct", "show", "build-status"])
maker = "Config.options(name='cfg', keep=True)()"
m = Sim.options(name=f"monitor-{os.getpid()}")()
bad = Status.options(name="a/b")
label = "build-status-report"
"""
    p = RUN_PREFIX
    assert (
        isolated(code)
        == f"""
s = Status.options(name="{p}build-status")()
Status.attach('{p}build-status'); shmstruct.unlink("{p}build-status")
t = Status.table(3, name="{p}build-statuses", keep=True)
subprocess.run([sys.executable, "-m", "shmstruct", "show", "{p}build-status"])
maker = "Config.options(name='{p}cfg', keep=True)()"
m = Sim.options(name=f"{p}monitor-{{os.getpid()}}")()
bad = Status.options(name="a/b")
label = "build-status-report"
"""
    )


@pytest.fixture(scope="session")
def mypy_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """mypy's report on each mypy block, by block id, from one ``mypy --strict`` run over all of
    them: a run reads the stubs of numpy, pydantic and shmstruct (seconds), and one run per block
    would read them again each time. (mypy's incremental cache would avoid that too, but a type
    read back from it can print differently.) Each block is its own module, ``example_<n>``. In its
    own process: mypy in this one would leave hundreds of thousands of objects behind, which every
    later garbage collection of the suite would walk."""
    folder = tmp_path_factory.mktemp("mypy-blocks")
    paths = {}
    for index, block in enumerate(block for block in BLOCKS if block.mypy or block.type_clean):
        paths[block.id] = folder / f"example_{index}.py"
        paths[block.id].write_text(block.code)
    options = ["--strict", "--no-incremental", "--no-error-summary"]
    done = subprocess.run(
        [sys.executable, "-m", "mypy", *options, *map(str, paths.values())], capture_output=True, text=True
    )
    assert done.returncode in (0, 1) and not done.stderr, done.stderr  # 1: the errors the pages show
    lines = done.stdout.splitlines()
    return {
        block_id: "\n".join(
            re.sub(r"\bexample_[0-9]+\b", "example", line.replace(str(path), "example.py"))
            for line in lines
            if line.startswith(f"{path}:")
        )
        for block_id, path in paths.items()
    }


#: pyright's settings for the pages' blocks: strict mode, as tests/test_typing.py checks the package.
PYRIGHT_CONFIG = {"typeCheckingMode": "strict"}
NBSP = "\N{NO-BREAK SPACE}"  # pyright indents the lines of a message with these (its JSON report)


@pytest.fixture(scope="session")
def pyright_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """pyright's report on each pyright block and each block that must type-check clean, by block
    id, from one run over all of them (each block its own file, ``example_<n>.py``), against this
    interpreter's environment."""
    pyright = shutil.which("pyright", path=str(pathlib.Path(sys.executable).parent)) or shutil.which("pyright")
    if pyright is None:
        pytest.skip("pyright is not installed (it is in the test extra: pip install -e '.[test]')")
    folder = tmp_path_factory.mktemp("pyright-blocks")
    (folder / "pyrightconfig.json").write_text(json.dumps(PYRIGHT_CONFIG))
    paths = {}
    for index, block in enumerate(block for block in BLOCKS if block.pyright or block.type_clean):
        paths[block.id] = folder / f"example_{index}.py"
        paths[block.id].write_text(block.code)
    done = subprocess.run(
        [pyright, "--outputjson", "--pythonpath", sys.executable, *map(str, paths.values())],
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=600,
    )
    diagnostics = json.loads(done.stdout)["generalDiagnostics"]
    return {
        block_id: "\n".join(
            f"example.py:{d['range']['start']['line'] + 1}:{d['range']['start']['character'] + 1}"
            f" - {d['severity']}: {d['message'].replace(NBSP, ' ')}" + (f" ({d['rule']})" if d.get("rule") else "")
            for d in diagnostics
            if pathlib.Path(d["file"]).resolve() == path.resolve()
        )
        for block_id, path in paths.items()
    }


@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
def test_block_runs_and_prints_what_the_page_shows(
    block: Block, tmp_path: pathlib.Path, mypy_reports: dict[str, str], request: pytest.FixtureRequest
) -> None:
    if block.mypy:
        printed = mypy_reports[block.id]
    elif block.pyright:
        printed = request.getfixturevalue("pyright_reports")[block.id]
    else:
        if block.type_clean:
            assert mypy_reports[block.id] == "", f"{block.id}: the page says mypy accepts it"
            pyright = request.getfixturevalue("pyright_reports")[block.id]
            assert pyright == "", f"{block.id}: the page says pyright accepts it"
        script = tmp_path / "example.py"
        script.write_text(isolated(block.code))
        printed = run_program(script)
    if block.output is not None:
        assert _normalised(printed) == _normalised(block.output), f"{block.id} printed:\n{printed}"


EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
# What an example must print (a regular expression); every other example must print something.
EXAMPLE_OUTPUT = {
    "particles.py": r"done: 400,000 particles, 4 workers x 40 steps, 160 progress rows",
    "monte_carlo.py": r"pi ~ 3\.1[0-9]{3}",
    "demo.py": r"\nthroughput: [0-9,.]+ jobs/s",
}


def test_every_expected_output_names_an_example() -> None:
    assert set(EXAMPLE_OUTPUT) <= {example.name for example in EXAMPLES}


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_example_runs(example: pathlib.Path, tmp_path: pathlib.Path) -> None:
    script = tmp_path / example.name
    script.write_text(isolated(example.read_text()))
    output = run_program(script)
    assert re.search(EXAMPLE_OUTPUT.get(example.name, r"\S"), output), f"{example.name} printed:\n{output}"
    if example.name == "demo.py":  # not a terminal: plain progress lines
        views = check_demo_output(output)
        assert all(len(view) == 1 for view in views), output


# --------------------------------------------------------------------------- the README demo

# One line of the demo's live view, and its final lines. No pace is checked: how far the workers
# get depends on the machine, only that what the demo shows adds up.
_PROGRESS = re.compile(
    r"  (?P<phase>running|stopping|finished) +(?P<seconds>[0-9]+\.[0-9]) s +(?P<jobs>[0-9,]+) jobs "
    r"\((?P<per_worker>[0-9]+(?: [0-9]+)*)\)  (?P<primes>[0-9,]+) primes < (?P<below>[0-9,]+)"
)
_STARTING = re.compile(r"  starting  [0-4]/4 workers ready")
_FINAL = re.compile(
    r"finished: (?P<jobs>[0-9,]+) jobs by 4 processes in [0-9.]+ s, (?P<events>[0-9,]+) events logged\n"
    r"primes below (?P<below>[0-9,]+): (?P<primes>[0-9,]+); below (?P<bound>[0-9,]+): (?P<counted>[0-9,]+) "
    r"\(known: (?P<known>[0-9,]+)\)\n"
    r"jobs per worker: \[(?P<per_worker>[0-9, ]+)\], mean job time \(ms\): \[[0-9., ]+\]\n"
    r"throughput: (?P<rate>[0-9,.]+) jobs/s, [0-9,]+ M numbers sieved/s, (?P<ops>[0-9,]+) shared-state "
    r"operations/s \(5 a job\) taking [0-9.]+% of the workers' CPU time"
)
# The number of primes below each power of ten (OEIS A006880).
_PRIMES_BELOW = {10**6: 78_498, 10**7: 664_579, 10**8: 5_761_455, 10**9: 50_847_534, 10**10: 455_052_511}


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def check_demo_output(output: str) -> list[list[str]]:
    """Check what the demo printed and return its progress lines, grouped by the printed line
    they share (a terminal's view rewrites one line in place with carriage returns)."""
    lines = output.replace("\r\n", "\n").rstrip("\n").split("\n")
    assert len(lines) > 4, output  # the view, then four final lines
    views = [[part.rstrip() for part in line.split("\r") if part.strip()] for line in lines[:-4]]
    shown = [part for view in views for part in view]
    starting = [part for part in shown if _STARTING.fullmatch(part)]
    progress = [_PROGRESS.fullmatch(part) for part in shown[len(starting) :]]
    assert shown[: len(starting)] == starting and starting, output  # the view opens with the start
    assert all(progress) and progress, output
    phases = [match["phase"] for match in progress if match]
    assert phases == sorted(phases, key=["running", "stopping", "finished"].index), output
    assert phases[-1] == "finished" and phases.count("finished") == 1, output
    previous: dict[str, Any] = {}
    for match in progress:
        assert match is not None
        now = {
            "seconds": float(match["seconds"]),
            "jobs": _number(match["jobs"]),
            "primes": _number(match["primes"]),
            "below": _number(match["below"]),
            "per_worker": [int(n) for n in match["per_worker"].split()],
        }
        assert len(now["per_worker"]) == 4 and sum(now["per_worker"]) == now["jobs"], output  # one snapshot
        assert now["below"] % 1_000_000 == 0 and now["below"] <= now["jobs"] * 1_000_000 + 4_000_000, output
        for key, value in previous.items():  # nothing goes back
            if key == "per_worker":
                assert all(a <= b for a, b in zip(value, now[key], strict=True)), output
            else:
                assert value <= now[key], output
        previous = now
    last = progress[-1]
    assert last is not None
    final = _FINAL.fullmatch("\n".join(lines[-4:]))
    assert final, output
    jobs = _number(final["jobs"])
    assert jobs > 0 and jobs == _number(final["events"]) == _number(last["jobs"]), output
    assert [int(n) for n in final["per_worker"].split(", ")] == previous["per_worker"], output
    assert _number(final["below"]) == jobs * 1_000_000 == _number(last["below"]), output
    assert _number(final["primes"]) == _number(last["primes"]), output
    bound = _number(final["bound"])
    assert bound == max(power for power in _PRIMES_BELOW if power <= jobs * 1_000_000), output
    assert _number(final["counted"]) == _number(final["known"]) == _PRIMES_BELOW[bound], output
    rate = float(final["rate"].replace(",", ""))
    assert rate > 0 and abs(_number(final["ops"]) - 5 * rate) <= 5, output  # 5 operations a job
    return views


def test_demo_rewrites_its_view_in_place_on_a_terminal() -> None:
    script = ROOT / "examples" / "demo.py"
    parent, child = pty.openpty()
    # Wider than any line of the view (the demo cuts its lines to the terminal's width).
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    demo = subprocess.Popen([sys.executable, str(script)], stdout=child, stderr=subprocess.PIPE, cwd=script.parent)
    os.close(child)
    printed = b""
    try:
        while chunk := _read(parent, RUN_TIMEOUT):
            printed += chunk
    except BaseException:
        demo.kill()
        raise
    finally:
        os.close(parent)
        _, errors = demo.communicate(timeout=RUN_TIMEOUT)
    assert demo.returncode == 0, errors.decode()
    views = check_demo_output(printed.decode())
    assert len(views) == 1 and len(views[0]) >= 2, printed  # one line, rewritten


def _read(fd: int, timeout: float) -> bytes:
    """What the program on a terminal printed next, or b"" once every process holding the
    terminal has closed it."""
    ready, _, _ = select.select([fd], [], [], timeout)
    assert ready, f"nothing printed for {timeout} s"  # a hang guard
    try:
        return os.read(fd, 65536)
    except OSError:  # EIO: the terminal has no other end any more
        return b""
