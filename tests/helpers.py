"""Schemas and child-process functions the tests share (importable by spawned children), and the
tools for starting and waiting for processes. Light on purpose: importing it imports neither numpy
nor pydantic, so that a spawn or forkserver child handed a struct without arrays (a ``Counter``)
starts in a fraction of the time. What needs numpy lives in ``array_helpers``, the ``State``
schema (pydantic) in ``state_helpers``."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.context import BaseContext
from typing import Any

from shmstruct import SharedStruct

JOIN_TIMEOUT = 60.0

# --------------------------------------------------------------------------- names of this run

#: Set once per run of the suite, in the process that runs pytest, and inherited through the
#: environment by every process the suite starts (multiprocessing children under every start
#: method, and programs started with ``subprocess``), so that they all agree on it.
_RUN_VARIABLE = "SHMSTRUCT_TEST_RUN_PREFIX"
if _RUN_VARIABLE not in os.environ:
    # An outer SHMSTRUCT_NAME_PREFIX (a CI job's, say) stays in front: its leftovers stay its own.
    os.environ[_RUN_VARIABLE] = f"{os.environ.get('SHMSTRUCT_NAME_PREFIX', '')}t{os.urandom(4).hex()}-"
#: What every segment name of this run starts with: generated names (``SHMSTRUCT_NAME_PREFIX``)
#: and the names tests choose (:func:`unique_name`). Another suite running at the same time on the
#: same machine has another one, so neither sees, takes nor reports the other's segments.
RUN_PREFIX = os.environ[_RUN_VARIABLE]
os.environ["SHMSTRUCT_NAME_PREFIX"] = RUN_PREFIX


def unique_name(base: str) -> str:
    """A segment name for a test to choose: ``base`` made unique to this run of the suite."""
    return f"{RUN_PREFIX}{base}"


# --------------------------------------------------------------------------- children


class Counter(SharedStruct):
    value: int = 0


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
    test line by line over stdin/stdout. Its code may ``from helpers import ...`` (or ``array_helpers``)."""

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


def hold_until(obj: Any, ready: Any, done: Any) -> None:
    """A child that received ``obj`` as an argument: say so, and wait to be let go."""
    ready.set()
    done.wait(JOIN_TIMEOUT)


def hold_lock_until_told(s: Counter, holding: Any, release: Any) -> None:
    """Take the lock, write 1, say so; once released, write 2 and let go."""
    with s.lock:
        s.value = 1
        holding.set()
        assert release.wait(JOIN_TIMEOUT)
        s.value = 2
