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
would collide when two runs of the suite, two programs of one run, or a reader's program use them
at the same time. So the runner makes them unique to each program before it runs it (see
:func:`isolated`). The programs are independent of each other, so they run two at a time, each
started ahead of its test (see :class:`Programs`); each test checks its own program.
"""

from __future__ import annotations

import ast
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
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from helpers import RUN_PREFIX

ROOT = pathlib.Path(__file__).parent.parent
RUN_TIMEOUT = 300.0  # a hang guard: a busy machine may take long
#: The URL of this run's Redis server (empty without redis-server): programs get it as SHMSTRUCT_REDIS_URL.
REDIS_URL: list[str] = []
#: Programs running at once: most of a program's time is one core's work (starting Python, importing
#: numpy and pydantic), so two at a time keep a 2-core machine busy.
PARALLEL = 2

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


# --------------------------------------------------------------------------- segment names

#: What a segment name may hold (shmstruct._naming). A string that cannot be one is left alone, so
#: that a program showing the error for a bad name prints what the page shows.
_VALID_NAME = re.compile(r"[A-Za-z0-9_.-]+")
#: The functions of the shmstruct module that take a segment name, and the position of the name
#: among their positional arguments (None: by keyword only): shmstruct.attach(State, name),
#: shmstruct.unlink(name), shmstruct.options(State, name=...), shmstruct.table(State, 8, name=...).
_FUNCTIONS: dict[str, int | None] = {"attach": 1, "unlink": 0, "options": None, "table": None, "log": None}
#: The same operations as methods, which take the name first: State.attach(name),
#: Table.attach(name, State), Log.attach(name, State), State.options(name=...), State.table(8, name=...).
_METHODS: dict[str, int | None] = {"attach": 0, "options": None, "table": None, "log": None}
#: python -m shmstruct COMMAND NAME, and the options of those commands that take a value.
_CLI_COMMANDS = {"show", "watch", "remove"}
_CLI_VALUED_OPTIONS = {"--rows", "--interval", "--count"}

_Literal = ast.Constant | ast.JoinedStr


class _NameFinder:
    """Where one program passes a segment name: the name argument of the calls above (a literal, an
    f-string starting with literal text, or a variable assigned one), and the NAME of a
    ``[sys.executable, "-m", "shmstruct", "show", NAME]`` command line."""

    def __init__(self, tree: ast.Module) -> None:
        self.modules = {"shmstruct"}  # what the shmstruct module is called here
        self.functions: dict[str, str] = {}  # local name -> shmstruct function (from shmstruct import attach)
        self.assigned: dict[str, list[ast.expr]] = {}  # variable -> the values assigned to it
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                self.modules.update(alias.asname or alias.name for alias in node.names if alias.name == "shmstruct")
            elif isinstance(node, ast.ImportFrom) and node.module == "shmstruct":
                for alias in node.names:
                    if alias.name in _FUNCTIONS:
                        self.functions[alias.asname or alias.name] = alias.name
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self.assigned.setdefault(target.id, []).append(node.value)

    def name_arguments(self, call: ast.Call) -> list[ast.expr]:
        func = call.func
        if isinstance(func, ast.Name) and func.id in self.functions:
            position = _FUNCTIONS[self.functions[func.id]]
        elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in self.modules:
            if func.attr not in _FUNCTIONS:
                return []
            position = _FUNCTIONS[func.attr]
        elif isinstance(func, ast.Attribute) and func.attr in _METHODS:
            position = _METHODS[func.attr]
        else:
            return []
        found = [keyword.value for keyword in call.keywords if keyword.arg == "name"]
        if position is not None and len(call.args) > position:
            found.append(call.args[position])
        return found

    @staticmethod
    def command_line_name(command: ast.List | ast.Tuple) -> list[ast.expr]:
        values = [element.value if isinstance(element, ast.Constant) else None for element in command.elts]
        for index in range(len(values) - 2):
            if values[index : index + 2] == ["-m", "shmstruct"] and values[index + 2] in _CLI_COMMANDS:
                skip = False
                for element, value in zip(command.elts[index + 3 :], values[index + 3 :], strict=True):
                    if skip or (isinstance(value, str) and value.startswith("-")):
                        skip = not skip and value in _CLI_VALUED_OPTIONS
                        continue
                    return [element]
        return []

    def literals(self, node: ast.expr, through: tuple[str, ...] = ()) -> Iterator[_Literal]:
        """The string literals that ``node`` stands for."""
        if isinstance(node, ast.Constant | ast.JoinedStr) and _leading_text(node):
            yield node
        elif isinstance(node, ast.Name) and node.id not in through:
            for value in self.assigned.get(node.id, []):
                yield from self.literals(value, (*through, node.id))


def _leading_text(literal: _Literal) -> str:
    """A string literal's value, or the literal text an f-string starts with."""
    if isinstance(literal, ast.Constant):
        return str(literal.value)
    first = literal.values[0] if literal.values else None
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else ""


def _program_in(text: str) -> ast.Module | None:
    """The program that a string holds, if it holds one that uses shmstruct (code handed to
    ``python -c``, say)."""
    if "shmstruct" not in text or _VALID_NAME.fullmatch(text):
        return None
    try:
        return ast.parse(text)
    except SyntaxError:
        return None


def segment_names(code: str) -> set[str]:
    """The segment names that ``code`` gives (whole names, or the literal start of an f-string
    name), read from its syntax tree, in the programs it holds as strings too."""
    tree = ast.parse(code)
    finder = _NameFinder(tree)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            arguments = finder.name_arguments(node)
        elif isinstance(node, ast.List | ast.Tuple):
            arguments = finder.command_line_name(node)
        else:
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and _program_in(node.value):
                names |= segment_names(node.value)
            continue
        for argument in arguments:
            names.update(
                text for text in map(_leading_text, finder.literals(argument)) if text and _VALID_NAME.fullmatch(text)
            )
    return names


def _with_prefix(code: str, names: set[str], prefix: str) -> str:
    """``code`` with ``prefix`` in front of every string literal that is one of ``names`` (or an
    f-string that starts with one), in the programs it holds as strings too."""
    tree = ast.parse(code)
    source = code.encode()
    line_starts = [0]
    for line in source.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))

    def span(node: ast.expr) -> tuple[int, int]:  # ast offsets count UTF-8 bytes
        assert node.end_lineno is not None and node.end_col_offset is not None
        return line_starts[node.lineno - 1] + node.col_offset, line_starts[node.end_lineno - 1] + node.end_col_offset

    in_fstrings = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
    edits: list[tuple[int, int, bytes]] = []
    for node in ast.walk(tree):
        if id(node) in in_fstrings or not isinstance(node, _Literal):
            continue
        if isinstance(node, ast.Constant) and not isinstance(node.value, str):
            continue
        start, end = span(node)
        if _leading_text(node) in names and (isinstance(node, ast.JoinedStr) or node.value in names):
            quote = re.match(rb"[rRbBuUfF]*(\"\"\"|'''|\"|')", source[start:end])
            assert quote is not None, source[start:end]
            edits.append((start + quote.end(), start + quote.end(), prefix.encode()))
        elif isinstance(node, ast.Constant) and _program_in(node.value):
            inner = _with_prefix(node.value, names, prefix)
            if inner != node.value:
                edits.append((start, end, repr(inner).encode()))
    for start, end, replacement in sorted(edits, reverse=True):
        source = source[:start] + replacement + source[end:]
    return source.decode()


def isolated(code: str, prefix: str) -> str:
    """``code`` with every segment name it gives made unique with ``prefix``: the segment names are
    read from the program's syntax tree (:func:`segment_names`), and ``prefix`` goes in front of
    each string literal that is one of them, wherever the program uses it (a command line, a helper
    it passes the name to, code it hands to another program). A field called ``name`` is a field:
    ``Job(name="build")`` stays as written. Generated names start with the prefix already: the
    program runs with it as ``SHMSTRUCT_NAME_PREFIX``.

    Rewriting rather than running each program in a private /dev/shm (``unshare -m`` with its own
    tmpfs): that needs privileges that CI containers often lack, which would leave two ways of
    running the same pages, with possibly different results; the rewrite works everywhere, and what
    a program leaves behind stays visible to the suite's leak check. The prefix is taken out of
    what the program prints again, so that the output still reads as on the page.
    """
    names = segment_names(code)
    return _with_prefix(code, names, prefix) if names else code


# --------------------------------------------------------------------------- running the programs


@dataclass(eq=False)
class Program:
    """A program one test of this module checks, with what it printed once it has run."""

    argv: list[str]
    folder: pathlib.Path  # where its output goes
    cwd: pathlib.Path | None = None
    prefix: str = ""  # its SHMSTRUCT_NAME_PREFIX (and the prefix of the names it gives)
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    timed_out: bool = False

    def start(self) -> None:
        environment = {**os.environ, "SHMSTRUCT_NAME_PREFIX": self.prefix} if self.prefix else None
        if environment is not None and REDIS_URL:  # the run's own server, for pages on the Redis store
            environment["SHMSTRUCT_REDIS_URL"] = REDIS_URL[0]
        # Into files, not pipes: nobody reads a pipe while the program runs ahead of its test.
        with open(self.folder / "stdout", "wb") as out, open(self.folder / "stderr", "wb") as err:
            self.process = subprocess.Popen(self.argv, stdout=out, stderr=err, cwd=self.cwd, env=environment)
        self.started = time.monotonic()

    def running(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            return False
        if time.monotonic() - self.started > RUN_TIMEOUT:  # a hang guard
            self.timed_out = True
            self.process.kill()
            self.process.wait()
            return False
        return True

    def outcome(self) -> subprocess.CompletedProcess[str]:
        assert self.process is not None and self.process.returncode is not None
        out, err = (self.folder / "stdout").read_text(), (self.folder / "stderr").read_text()
        if self.timed_out:
            err += f"\n(killed: still running after {RUN_TIMEOUT:.0f} s)"
        return subprocess.CompletedProcess(self.argv, self.process.returncode, out, err)


class Programs:
    """The programs of this module's tests, run PARALLEL at a time: each test waits for its own
    program, and while it waits the next ones start as soon as others end. The programs are
    independent (each gives its segments names of its own), so the order they run in matters for
    nothing but the time. Without threads: the waiting test does the starting."""

    def __init__(self, programs: dict[str, Program]) -> None:
        self.programs = programs
        self.waiting = list(programs.values())
        self.running: list[Program] = []

    def result(self, key: str) -> subprocess.CompletedProcess[str]:
        program = self.programs[key]
        while True:
            self.running = [p for p in self.running if p.running()]
            while self.waiting and len(self.running) < PARALLEL:
                self.waiting[0].start()
                self.running.append(self.waiting.pop(0))
            if program.process is not None and program not in self.running:
                return program.outcome()
            time.sleep(0.01)

    def output(self, key: str) -> str:
        """What program ``key`` printed, which must have exited with 0, without its name prefix."""
        done = self.result(key)
        assert done.returncode == 0, f"{key} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout.replace(self.programs[key].prefix, "")

    def stop(self) -> None:
        """Stop what is still running (the tests stopped early, or some were not run)."""
        self.waiting.clear()
        for program in self.running:
            assert program.process is not None
            program.process.kill()
            program.process.wait()
        self.running.clear()


PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCKS = [block for page in PAGES for block in blocks_of(page)]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
# What an example must print (a regular expression); every other example must print something.
EXAMPLE_OUTPUT = {
    "particles.py": r"done: 400,000 particles, 4 workers x 40 steps, 160 progress rows",
    "monte_carlo.py": r"pi ~ 3\.1[0-9]{3}",
    "demo.py": r"\nthroughput: [0-9,.]+ jobs/s",
    "redis_jobs.py": r"done: 24 jobs by 3 workers through Redis, 24 events logged\nprimes counted: [0-9,]+, every job",
}
MYPY = "mypy"  # the key of the one mypy run over every mypy block


@dataclass
class Runs:
    """This module's programs, and where the mypy run wrote each mypy block."""

    programs: Programs
    mypy_paths: dict[str, pathlib.Path]

    def mypy_report(self, block: Block) -> str:
        """mypy's report on ``block``, with its file called ``example.py``."""
        done = self.programs.result(MYPY)
        assert done.returncode in (0, 1) and not done.stderr, done.stderr  # 1: the errors the pages show
        path = str(self.mypy_paths[block.id])
        return "\n".join(
            re.sub(r"\bexample_[0-9]+\b", "example", line.replace(path, "example.py"))
            for line in done.stdout.splitlines()
            if line.startswith(f"{path}:")
        )


def _checked(item: pytest.Item) -> Block | pathlib.Path | None:
    """The block or example that a test of this module checks, if any."""
    callspec = getattr(item, "callspec", None)
    params = callspec.params if callspec is not None else {}
    checked = params.get("block", params.get("example"))
    return checked if isinstance(checked, Block | pathlib.Path) else None


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    """The programs of the tests of this module that this session runs, started as the tests come
    (in the order pytest runs them), two at a time.

    The mypy blocks are checked by one ``mypy --strict`` run over all of them, started first (it is
    the longest): a run reads the stubs of numpy, pydantic and shmstruct (seconds), and one run per
    block would read them again each time. (mypy's incremental cache would avoid that too, but a
    type read back from it can print differently.) Each block is its own module, ``example_<n>``.
    In its own process: mypy in this one would leave hundreds of thousands of objects behind, which
    every later garbage collection of the suite would walk."""
    checked = [
        thing
        for item in request.session.items
        if getattr(item, "module", None) is request.module and (thing := _checked(item)) is not None
    ]
    programs: dict[str, Program] = {}
    if not REDIS_URL:
        try:
            REDIS_URL.append(request.getfixturevalue("redis_url"))
        except pytest.skip.Exception:
            pass  # no redis-server here: the Redis pages' programs are skipped (see _needs_redis)
    mypy_blocks = [thing for thing in checked if isinstance(thing, Block) and (thing.mypy or thing.type_clean)]
    mypy_paths: dict[str, pathlib.Path] = {}
    if mypy_blocks:
        folder = tmp_path_factory.mktemp("mypy-blocks")
        for index, block in enumerate(mypy_blocks):
            mypy_paths[block.id] = folder / f"example_{index}.py"
            mypy_paths[block.id].write_text(block.code)
        options = ["--strict", "--no-incremental", "--no-error-summary"]
        programs[MYPY] = Program([sys.executable, "-m", "mypy", *options, *map(str, mypy_paths.values())], folder)
    for thing in checked:
        if isinstance(thing, Block) and (thing.mypy or thing.pyright):
            continue
        key, name, code = (
            (thing.id, "example.py", thing.code)
            if isinstance(thing, Block)
            else (thing.name, thing.name, thing.read_text())
        )
        folder = tmp_path_factory.mktemp("program")
        (folder / "run").mkdir()  # where the program runs, and nothing but the program is
        prefix = f"{RUN_PREFIX}{len(programs)}-"
        (folder / "run" / name).write_text(isolated(code, prefix))
        programs[key] = Program([sys.executable, str(folder / "run" / name)], folder, cwd=folder / "run", prefix=prefix)
    running = Programs(programs)
    yield Runs(running, mypy_paths)
    running.stop()


def test_the_pages_have_runnable_examples() -> None:
    pages_with_blocks = {block.page for block in BLOCKS}
    assert "README.md" in pages_with_blocks and "docs/quickstart.md" in pages_with_blocks
    assert len(BLOCKS) >= 20


def test_segment_names_are_read_from_the_syntax_tree() -> None:
    code = """
import os
import subprocess
import sys

import shmstruct
from shmstruct import Table, attach, unlink as remove_segment

CONFIG = "cfg-name"
s = shmstruct.options(Status, name="build-status")(name="build")
Status.attach('build-status'); shmstruct.unlink("build-status")
t = shmstruct.table(Status, 3, name="build-statuses", keep=True)
Table.attach("build-statuses", Status); shmstruct.attach(Status, "never-made")
attach(Status, CONFIG); remove_segment("gone")
subprocess.run([sys.executable, "-m", "shmstruct", "remove", "--force", "left-over"])
subprocess.run([sys.executable, "-m", "shmstruct", "show", "build-status", "--rows", "3"])
maker = "import shmstruct\\nshmstruct.options(Config, name='cfg', keep=True)()"
m = shmstruct.options(Sim, name=f"monitor-{os.getpid()}")()
job = Job(name="build", log="gone-soon")
bad = shmstruct.options(Status, name="a/b")
os.unlink("/dev/shm/shms_build-status"); label = "build-status-report"; other = "cfg"
"""
    assert segment_names(code) == {
        "build-status", "build-statuses", "never-made", "cfg-name", "gone", "left-over", "cfg", "monitor-"
    }  # fmt: skip
    p = "P-"
    assert (
        isolated(code, p)
        == f"""
import os
import subprocess
import sys

import shmstruct
from shmstruct import Table, attach, unlink as remove_segment

CONFIG = "{p}cfg-name"
s = shmstruct.options(Status, name="{p}build-status")(name="build")
Status.attach('{p}build-status'); shmstruct.unlink("{p}build-status")
t = shmstruct.table(Status, 3, name="{p}build-statuses", keep=True)
Table.attach("{p}build-statuses", Status); shmstruct.attach(Status, "{p}never-made")
attach(Status, CONFIG); remove_segment("{p}gone")
subprocess.run([sys.executable, "-m", "shmstruct", "remove", "--force", "{p}left-over"])
subprocess.run([sys.executable, "-m", "shmstruct", "show", "{p}build-status", "--rows", "3"])
maker = "import shmstruct\\nshmstruct.options(Config, name='{p}cfg', keep=True)()"
m = shmstruct.options(Sim, name=f"{p}monitor-{{os.getpid()}}")()
job = Job(name="build", log="gone-soon")
bad = shmstruct.options(Status, name="a/b")
os.unlink("/dev/shm/shms_build-status"); label = "build-status-report"; other = "{p}cfg"
"""
    )


def test_a_field_called_name_is_not_a_segment_name() -> None:
    code = 'job = Job(name="build")\nshmstruct.update(job, name="render")\nprint(job.name, Job.options().__name__)\n'
    assert segment_names(code) == set() and isolated(code, "P-") == code


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
def test_block_runs_and_prints_what_the_page_shows(block: Block, runs: Runs, request: pytest.FixtureRequest) -> None:
    if block.mypy:
        printed = runs.mypy_report(block)
    elif block.pyright:
        printed = request.getfixturevalue("pyright_reports")[block.id]
    else:
        if block.type_clean:
            assert runs.mypy_report(block) == "", f"{block.id}: the page says mypy accepts it"
            pyright = request.getfixturevalue("pyright_reports")[block.id]
            assert pyright == "", f"{block.id}: the page says pyright accepts it"
        if "shmstruct.redis" in block.code and not REDIS_URL:
            pytest.skip("no redis-server here: the page's program needs one")
        printed = runs.programs.output(block.id)
    if block.output is not None:
        assert _normalised(printed) == _normalised(block.output), f"{block.id} printed:\n{printed}"


def test_every_expected_output_names_an_example() -> None:
    assert set(EXAMPLE_OUTPUT) <= {example.name for example in EXAMPLES}


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_example_runs(example: pathlib.Path, runs: Runs) -> None:
    if "shmstruct.redis" in example.read_text() and not REDIS_URL:
        pytest.skip("no redis-server here: the example needs one")
    output = runs.programs.output(example.name)
    assert re.search(EXAMPLE_OUTPUT.get(example.name, r"\S"), output), f"{example.name} printed:\n{output}"
    if example.name == "demo.py":  # not a terminal: plain progress lines
        views = check_demo_output(output)
        assert all(len(view) == 1 for view in views), output


# --------------------------------------------------------------------------- the README demo

# One line of the demo's live view, and its final lines. No pace is checked: how far the workers
# get depends on the machine, only that what the demo shows adds up.
_PROGRESS = re.compile(
    r"  (?P<phase>running|stopping|finished) +(?P<seconds>[0-9]+\.[0-9]) s +(?P<jobs>[0-9,]+) jobs "
    r"\((?P<per_worker>[0-9]+(?: [0-9]+)*)\)  (?P<primes>[0-9,]+) primes < (?P<below>[0-9,]+) M"
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
            "below": _number(match["below"]) * 1_000_000,
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
    assert _number(final["below"]) == jobs * 1_000_000 == previous["below"], output
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
    # An explicit environment: readline (which pytest's debugger support imports) exports COLUMNS
    # and LINES to the C environment, and a child given those would ignore the terminal's width.
    demo = subprocess.Popen(
        [sys.executable, str(script)], stdout=child, stderr=subprocess.PIPE, cwd=script.parent, env=dict(os.environ)
    )
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
