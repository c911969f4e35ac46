"""Schemas and child-process functions the tests share (importable by spawned children)."""

from __future__ import annotations

import ctypes
import errno
import os
import secrets
import select
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.context import BaseContext
from typing import Annotated, Any

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

import shmstruct
from shmstruct import SharedStruct, array, nested, text

JOIN_TIMEOUT = 60.0

# --------------------------------------------------------------------------- names of this run

#: Set once per run of the suite, in the process that runs pytest, and inherited through the
#: environment by every process the suite starts (multiprocessing children under every start
#: method, and programs started with ``subprocess``), so that they all agree on it.
_RUN_VARIABLE = "SHMSTRUCT_TEST_RUN_PREFIX"
if _RUN_VARIABLE not in os.environ:
    # An outer SHMSTRUCT_NAME_PREFIX (a CI job's, say) stays in front: its leftovers stay its own.
    os.environ[_RUN_VARIABLE] = f"{os.environ.get('SHMSTRUCT_NAME_PREFIX', '')}t{secrets.token_hex(4)}-"
#: What every segment name of this run starts with: generated names (``SHMSTRUCT_NAME_PREFIX``)
#: and the names tests choose (:func:`unique_name`). Another suite running at the same time on the
#: same machine has another one, so neither sees, takes nor reports the other's segments.
RUN_PREFIX = os.environ[_RUN_VARIABLE]
os.environ["SHMSTRUCT_NAME_PREFIX"] = RUN_PREFIX


def unique_name(base: str) -> str:
    """A segment name for a test to choose: ``base`` made unique to this run of the suite."""
    return f"{RUN_PREFIX}{base}"


class Vec3(SharedStruct):
    x: float = 0.0
    y: float = 0.0
    z: float = 0.0


class State(SharedStruct):
    steps: int = 0
    level: shmstruct.int8 = 0
    legacy: Annotated[int, ctypes.c_int] = 0
    code: Annotated[int, "I"] = 0
    running: bool = True
    temperature: float = 20.0
    label: str = text(16)
    grid: NDArray[np.float64] = array((4, 3))
    origin: Vec3 = nested()
    budget: Annotated[int, Field(ge=0, le=100)] = 50


class Counter(SharedStruct):
    value: int = 0


class EveryType(SharedStruct):
    """One field of every scalar type of multiprocessing.Value's table, plus text and arrays."""

    b: Annotated[int, ctypes.c_byte] = -3
    ub: Annotated[int, ctypes.c_ubyte] = 3
    h: Annotated[int, ctypes.c_short] = -300
    uh: Annotated[int, ctypes.c_ushort] = 300
    i: Annotated[int, ctypes.c_int] = -70000
    ui: Annotated[int, ctypes.c_uint] = 70000
    l: Annotated[int, ctypes.c_long] = -(2**40)  # noqa: E741
    ul: Annotated[int, ctypes.c_ulong] = 2**40
    q: Annotated[int, ctypes.c_longlong] = -(2**50)
    uq: Annotated[int, ctypes.c_ulonglong] = 2**50
    f: Annotated[float, ctypes.c_float] = 1.5
    d: Annotated[float, ctypes.c_double] = 2.25
    flag: Annotated[bool, ctypes.c_bool] = False
    c: Annotated[bytes, ctypes.c_char] = b"a"
    u: Annotated[str, ctypes.c_wchar] = "x"
    words: str = text(32, "hello")
    samples: NDArray[np.int32] = array(5)
    matrix: NDArray[np.float64] = array((2, 3))
    where: Vec3 = nested(x=1.0, y=2.0, z=3.0)


def double_every_field(s: EveryType) -> None:
    """CPython's test_sharedctypes `_double`, for every type: the child doubles each value."""
    with s.lock:
        for name in ("b", "ub", "h", "uh", "i", "ui", "l", "ul", "q", "uq", "f", "d"):
            setattr(s, name, getattr(s, name) * 2)
        s.flag = not s.flag
        s.c = b"b"
        s.u = "y"
        s.words = s.words * 2
        s.samples[:] *= 2
        s.matrix *= 2
        s.where.x *= 2
        s.where.y *= 2
        s.where.z *= 2


def increment(counter: Counter, times: int) -> None:
    for _ in range(times):
        with counter.lock:
            counter.value += 1


_initialized: Any = None


def remember(obj: Any) -> None:
    """A pool initializer: keep the struct the parent handed over."""
    global _initialized
    _initialized = obj


def add_to_remembered(amount: int) -> int:
    """A pool task: add under the shared lock to the struct the initializer received."""
    with _initialized.lock:
        _initialized.value += amount
        return int(_initialized.value)


@contextmanager
def pool_of(ctx: BaseContext, processes: int, **kwargs: Any) -> Iterator[Any]:
    """A ``Pool`` that ends with close() and join(): its workers exit normally. (The with-statement
    of ``Pool`` terminates them, possibly before they have even unpickled their initargs.)"""
    pool = ctx.Pool(processes, **kwargs)  # type: ignore[attr-defined]
    try:
        yield pool
    finally:
        pool.close()
        pool.join()


def finish(process: Any) -> None:
    """Join a started child (killing it after JOIN_TIMEOUT) and require a clean exit."""
    process.join(JOIN_TIMEOUT)
    if process.is_alive():
        process.kill()
        process.join()
        raise AssertionError(f"child {process.name} did not finish in {JOIN_TIMEOUT}s")
    assert process.exitcode == 0, f"child {process.name} exited with {process.exitcode}"


def run_child(ctx: BaseContext, target: Any, *args: Any) -> None:
    """Run ``target(*args)`` in a child of ``ctx`` and require a clean exit."""
    process = ctx.Process(target=target, args=args)
    process.start()
    finish(process)


@contextmanager
def running_child(ctx: BaseContext, target: Any, *args: Any, stop: Any) -> Iterator[Any]:
    """Run ``target(*args)`` in a child while the ``with`` body runs; then set ``stop`` and finish it."""
    process = ctx.Process(target=target, args=args)
    process.start()
    try:
        yield process
    finally:
        stop.set()
        finish(process)


class Pair(SharedStruct):
    a: int = 0
    b: int = 0
    word: str = text(64)
    block: NDArray[np.int64] = array(256)


def keep_writing(pair: Pair, started: Any, stop: Any) -> None:
    """Alternate whole-value writes until told to stop: text, whole arrays and update()."""
    i = 0
    while not stop.is_set():
        i += 1
        pair.word = ("ab"[i % 2]) * (32 + i % 32)
        pair.block = np.full(256, i, dtype=np.int64)
        pair.update(a=i, b=-i)
        if i == 1:
            started.set()


# --------------------------------------------------------------------------- tables and logs


class Particle(SharedStruct):
    x: float = 0.0
    y: float = 0.0
    mass: shmstruct.float32 = 1.0
    alive: bool = True


class Entry(SharedStruct):
    """A log row whose parts all derive from (worker, seq): a torn or half-written row shows."""

    worker: int = -1
    seq: int = -1
    square: int = -1
    tag: str = text(24, "unset")
    echo: NDArray[np.int64] = array(4)
    where: Vec3 = nested(x=-1.0, y=-1.0, z=-1.0)


def entry_values(worker: int, seq: int) -> dict[str, Any]:
    """The fields of the row that ``worker`` appends as its ``seq``-th."""
    return {
        "worker": worker,
        "seq": seq,
        "square": seq * seq + worker,
        "tag": f"w{worker}-s{seq}",
        "echo": np.full(4, seq, dtype=np.int64),
        "where": {"x": float(worker), "y": float(seq), "z": 1.0},
    }


def broken_entries(records: Any) -> list[int]:
    """Indexes of rows in ``records`` (an ``Entry`` array) that are not exactly one finished append."""
    worker, seq = records["worker"], records["seq"]
    good = (worker >= 0) & (seq >= 0) & (records["square"] == seq * seq + worker)
    good &= (records["echo"] == seq[:, None]).all(axis=1)
    good &= (records["where"]["x"] == worker) & (records["where"]["y"] == seq) & (records["where"]["z"] == 1.0)
    tags = [bytes(t).rstrip(b"\0").decode() for t in records["tag"]]
    good &= np.array([t == f"w{w}-s{s}" for t, w, s in zip(tags, worker, seq, strict=True)], dtype=bool)
    return [int(i) for i in np.flatnonzero(~good)]


def append_entries(log: Any, worker: int, count: int, go: Any) -> None:
    """A log writer: wait for the start signal, then append ``count`` rows."""
    go.wait(JOIN_TIMEOUT)
    for seq in range(count):
        log.append(**entry_values(worker, seq))


def watch_entries(log: Any, expected: int, result: Any) -> None:
    """A log reader: copy the finished rows over and over until all ``expected`` are there; report
    how many reads it made and any row that was not a finished append."""
    reads, broken = 0, []
    while True:
        rows = np.array(log.records)  # the rows visible now, copied
        reads += 1
        broken = broken_entries(rows)
        if broken or len(rows) >= expected:
            break
    result.put((reads, len(rows), broken[:5]))


def fill_column(part: Any, name: str, value: float) -> None:
    """The classic worker: write a value into one column of the rows (a table slice) it was given."""
    part.column(name)[:] = value


def double_rows_through_proxies(table: Any) -> None:
    """Double x of every row through checked row proxies; read y through ``records``, store in mass."""
    for row in table:
        row.x = row.x * 2
    records = table.records
    records["mass"] = records["y"]


def append_from_remembered(x: float) -> int:
    """A pool task: append to the log the initializer received."""
    index: int = _initialized.append(x=x)
    return index


def column_sum_of_remembered(name: str) -> float:
    """A pool task: sum a column of the table the initializer received."""
    return float(_initialized.column(name).sum())


# --------------------------------------------------------------------------- unrelated processes

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT_DIR = os.path.dirname(TESTS_DIR)
#: SHMSTRUCT_TEST_INSTALLED=1: the suite tests the installed package (a wheel), so programs it
#: starts must not find the source tree first.
TESTING_INSTALLED = bool(os.environ.get("SHMSTRUCT_TEST_INSTALLED"))
SOURCE_PATH = [] if TESTING_INSTALLED else [os.path.join(ROOT_DIR, "src")]


class Script:
    """A Python program run as an unrelated process (not a multiprocessing child), talking to the
    test line by line over stdin/stdout. Its code may ``from helpers import ...``."""

    def __init__(self, directory: str, code: str, name: str = "script", cwd: str | None = None) -> None:
        path = os.path.join(directory, f"{name}.py")
        with open(path, "w") as source:
            source.write(f"import sys\nsys.path[:0] = {[TESTS_DIR, *SOURCE_PATH]!r}\n" + textwrap.dedent(code))
        self.process = subprocess.Popen(
            [sys.executable, path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def expect(self, prefix: str, timeout: float = JOIN_TIMEOUT) -> str:
        """The next line the program prints, which must start with ``prefix``."""
        stdout = self.process.stdout
        assert stdout is not None
        ready, _, _ = select.select([stdout], [], [], timeout)
        line = stdout.readline() if ready else ""
        if not line.startswith(prefix):
            self.process.kill()
            _, err = self.process.communicate(timeout=JOIN_TIMEOUT)
            raise AssertionError(f"expected a line starting {prefix!r}, got {line!r}; stderr:\n{err}")
        return line.rstrip("\n")

    def send(self, line: str) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(line + "\n")
        stdin.flush()

    def finish(self, timeout: float = JOIN_TIMEOUT) -> tuple[int, str]:
        """Close its stdin, wait for it to exit, and return (exit status, stderr)."""
        try:
            _, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
            raise AssertionError(f"script did not finish in {timeout}s; stderr:\n{err}") from None
        return self.process.returncode, err


def wait_until(condition: Any, timeout: float = JOIN_TIMEOUT) -> bool:
    """Poll ``condition()`` until it is true or ``timeout`` seconds pass (for effects of other
    processes that send no event, such as a name disappearing from /dev/shm). The timeout only
    guards against a hang: a busy machine may take long, and a test must not fail for that."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def sleeping_in_futex_wait(pid: int) -> bool:
    """Whether process ``pid`` sleeps in a futex wait now (blocked on a lock, say). Where the kernel
    does not say where a process sleeps, any sleep counts."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
        with open(f"/proc/{pid}/wchan") as wchan:
            where = wchan.read().strip()
    except OSError:
        return False
    return state == "S" and ("futex" in where or where in ("", "0"))


def segment_exists(name: str) -> bool:
    """Whether shared segment ``name`` is still in /dev/shm."""
    return os.path.exists(f"/dev/shm/shms_{name}")


def hold_lock_forever(s: Any, held: Any, how: str) -> None:
    """Take ``s``'s lock (``how``: "lock", "unrecorded" or "bookkeeping"), say so, and never let go."""
    if how == "lock":
        s.lock.acquire()
    elif how == "unrecorded":
        # The state a holder killed between taking the mutex and recording its pid leaves.
        from shmstruct._header import HOLDER, write_field

        s.lock.acquire()
        write_field(s._block_.mmap, HOLDER, 0)
    else:
        s.lock.bookkeeping().__enter__()
    held.set()
    threading.Event().wait()


def shared_things() -> tuple[Any, ...]:
    """One of each kind of shared object: a struct, a table, a log, a row of a table and a slice."""
    counter = Counter(value=1)
    table = Particle.table(6)
    log = Particle.log(10)
    log.append(x=1.0)
    return counter, table, log, table[3], table[4:6]


def bump(things: tuple[Any, ...]) -> tuple[Any, ...]:
    """Change each shared object through the reference received, and send the references back."""
    counter, table, log, row, part = things
    with counter.lock:
        counter.value += 1
    table.column("x")[:2] += 1.0
    log.append(x=2.0)
    row.y = 5.0
    part.column("mass")[:] = 3.0
    return things


def check_bumped(things: tuple[Any, ...], times: int) -> None:
    """What ``times`` calls of :func:`bump` leave, seen through the parent's own objects."""
    counter, table, log, row, _part = things
    assert counter.value == 1 + times
    assert table.column("x").tolist() == [float(times)] * 2 + [0.0] * 4
    assert sorted(log.column("x").tolist()) == [1.0] + [2.0] * times
    assert row.y == (5.0 if times else 0.0) and table[3].y == row.y
    assert table.column("mass").tolist() == [1.0] * 4 + [3.0 if times else 1.0] * 2


def bump_from_queue(inbox: Any, outbox: Any) -> None:
    outbox.put(bump(inbox.get(timeout=JOIN_TIMEOUT)))


def bump_from_pipe(end: Any) -> None:
    end.send(bump(end.recv()))


def make_shared(value: int) -> tuple[Any, ...]:
    """A worker creates shared objects and returns them (then drops its own references)."""
    counter = Counter(value=value)
    table = Particle.table(3)
    table.column("x")[:] = float(value)
    log = Particle.log(4)
    log.append(x=float(value))
    return counter, table, log


# --------------------------------------------------------------------------- the stress test


class Tally(SharedStruct):
    total: int = 0
    done: NDArray[np.int64] = array(256)  # completed increments, per worker id
    attached: NDArray[np.int64] = array(256)  # completed attach-and-increment rounds, per worker id
    scratch: float = 0.0
    stop: bool = False  # not a multiprocessing.Event: a worker killed inside Event.is_set() wedges its lock


class Mark(SharedStruct):
    """A log row whose check field derives from the other two: a torn row shows."""

    worker: int = -1
    seq: int = -1
    check: int = -1


def mark_check(worker: int, seq: int) -> int:
    return seq * 7919 + worker * 1_000_003


def stress_worker(wid: int, tally_name: str, log: Any, scratch_name: str, ready: Any, go: Any) -> None:
    """Attach, say so and wait for ``go``; then mixed work until told to stop: reads, writes,
    locked increments, appends, attach/detach. Every increment it completes is counted under the
    same lock, in its own slot of the tally."""
    import random
    import warnings

    warnings.simplefilter("ignore", shmstruct.DeadHolderWarning)  # expected: others get killed
    tally = Tally.attach(tally_name)
    rng = random.Random(wid)
    seq = 0
    ready.set()
    go.wait()
    while not tally.stop:
        for _ in range(200):
            op = rng.random()
            if op < 0.30:
                with tally.lock:
                    tally.total += 1
                    tally.done[wid] += 1
            elif op < 0.55:
                try:
                    log.append(worker=wid, seq=seq, check=mark_check(wid, seq))
                    seq += 1
                except shmstruct.LogFullError:
                    pass
            elif op < 0.75:
                _ = tally.total + tally.scratch
            elif op < 0.95:
                tally.scratch = rng.random()
            else:
                other = Counter.attach(scratch_name)
                with other.lock:
                    other.value += 1
                    tally.attached[wid] += 1
                other.close()


def hold_until(obj: Any, ready: Any, done: Any) -> None:
    """A child that received ``obj`` as an argument: say so, and wait to be let go."""
    ready.set()
    done.wait(JOIN_TIMEOUT)


# --------------------------------------------------------------------------- errors across processes


def raise_library_error(kind: str) -> None:
    """Make shmstruct raise its error ``kind`` (a class name) here, the way a program meets it.
    Errors that no call can provoke safely (a full /dev/shm) or that are only ever bases or
    warnings are raised as the library constructs them."""
    name = unique_name(f"errors-{kind}-{os.getpid()}")
    if kind == "FieldValueError":
        State().level = 300
    elif kind == "FieldTypeError":
        State(steps="x")
    elif kind == "SchemaError":
        type(SharedStruct)("Bad", (SharedStruct,), {"__annotations__": {"items": list}, "__module__": __name__})
    elif kind == "SharedMemoryGoneError":
        shmstruct.attach(Counter, name)
    elif kind == "SegmentNameError":
        shmstruct.options(Counter, name="a/b")()
    elif kind == "LogFullError":
        log = shmstruct.log(Counter, capacity=1)
        log.append()
        log.append()
    elif kind in ("SegmentExistsError", "SchemaMismatchError", "SegmentError"):
        with shmstruct.options(Counter, name=name)():
            if kind == "SegmentExistsError":
                shmstruct.options(Counter, name=name)()
            elif kind == "SchemaMismatchError":
                shmstruct.attach(Vec3, name)
            else:
                shmstruct.Table.attach(name, Counter)
    elif kind == "SharedMemoryFullError":
        raise shmstruct.SharedMemoryFullError(errno.ENOSPC, "no room in /dev/shm for shared segment 'x'")
    elif kind == "DeadHolderWarning":
        raise shmstruct.DeadHolderWarning("the lock of shared block 'x' was taken over")
    elif kind == "ShmStructError":
        raise shmstruct.ShmStructError("base")
    raise AssertionError(f"no way to provoke {kind}")


def describe_exception(exc: BaseException) -> tuple[str, str, str, tuple[Any, ...]]:
    """What a process that unpickled ``exc`` sees: its class's module and name, message and args."""
    return type(exc).__module__, type(exc).__qualname__, str(exc), exc.args


def write_out_of_range(state: State) -> None:
    """A child whose uncaught error ends it (multiprocessing prints the traceback)."""
    state.level = 300
