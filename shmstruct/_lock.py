"""The shared lock: re-entrant, living inside its block, and safe against a holder that dies
holding it.

The mutual exclusion is a process-shared POSIX semaphore stored in the block's header and driven
by CPython's own semaphore lock (``_multiprocessing.SemLock``, the object behind
``multiprocessing.RLock``). Being inside the block, the lock is reachable from the block's name
alone and is removed with it. On top of it, every acquire records the holder's pid in the header
and the last release clears it. A process that has waited for a while checks that record: if the
holder is dead (``SIGKILL``, a crash), it hands the semaphore back on the dead process's behalf,
takes the lock, and warns with :class:`~shmstruct.DeadHolderWarning`.

Two cases of "dead holder":

* The record names a pid and that process no longer exists (or is a zombie): found on the first
  check, about 50 ms into the wait. (The library's own header updates record ``-pid``: a holder
  that dies there is taken over silently, since no user data was being changed.)
* The record is empty while the semaphore stays taken: the holder took the semaphore and died
  in the instant before recording itself. A live holder leaves that instant within microseconds,
  so an empty record seen on :data:`_UNRECORDED_CHECKS` consecutive checks (about 0.2 s) means a
  dead one.

Recoveries are serialised by an ``flock`` on the segment (released by the kernel if the recovering
process dies too) and counted in the header, so two waiters never both hand the semaphore back.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import importlib
import os
import time
import warnings
import weakref
from collections.abc import Iterator
from typing import Any

from ._errors import DeadHolderWarning
from ._header import DEAD_HOLDER, HOLDER, RECOVERIES, SEMAPHORE, read_field, user_pids, write_field
from ._naming import segment_path
from ._processes import current_pid, is_alive

__all__ = ["SharedLock"]

# No type stubs exist for these CPython modules; they are what multiprocessing itself uses.
_multiprocessing: Any = importlib.import_module("_multiprocessing")
_posixshmem: Any = importlib.import_module("_posixshmem")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.sem_init.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint]

_RECURSIVE_MUTEX, _SEMAPHORE = 0, 1  # multiprocessing.synchronize's kinds
_FIRST_WAIT = 0.05  # seconds of plain waiting before the first check of the holder
_CHECK_EVERY = 0.01  # seconds between checks after that
_UNRECORDED_CHECKS = 20  # consecutive checks with no recorded holder before presuming it dead

_live_locks: weakref.WeakSet[SharedLock] = weakref.WeakSet()


class SharedLock:
    """The re-entrant lock of one shared block, shared by every process that uses it.

    Use ``with s.lock:`` around any read-modify-write or any group of fields that must change
    together. The thread that holds the lock may take it again (each ``acquire`` needs its
    ``release``); other threads and processes wait.

    If a process dies while holding the lock, a waiting process takes it over within about a
    second and warns with :class:`~shmstruct.DeadHolderWarning`, naming the dead process. The data
    may then hold that process's half-finished update.
    """

    __slots__ = ("block_name", "_recoveries_at", "_sem", "_twin", "_try", "_release", "_holder", "_depth", "_pid", "_mapping", "_reference", "__weakref__")

    def __init__(
        self, block_name: str, mapping: Any, address: int, semaphore: int = SEMAPHORE, holder: int = HOLDER, recoveries: int = RECOVERIES
    ) -> None:
        # SemLock keeps a raw pointer into the mapping; holding the mapping (and the ctypes export
        # below) keeps it mapped for as long as this object lives. ``semaphore``, ``holder`` and
        # ``recoveries`` are header offsets: the user lock's by default, the header lock's for the library.
        self.block_name = block_name
        self._recoveries_at = recoveries
        self._sem = _multiprocessing.SemLock._rebuild(address + semaphore, _RECURSIVE_MUTEX, 1, None)
        self._twin = _multiprocessing.SemLock._rebuild(address + semaphore, _SEMAPHORE, 1, None)  # any process may release it
        self._try = self._sem.acquire
        self._release = self._sem.release
        self._holder = ctypes.c_int64.from_buffer(mapping, holder)
        self._depth = 0
        self._pid = current_pid()
        self._mapping = mapping
        self._reference: Any = None  # how the lock pickles: set by the block that owns it
        _live_locks.add(self)

    @staticmethod
    def initialise(address: int, semaphore: int = SEMAPHORE) -> None:
        """Initialise a semaphore in a new block's header (``address`` is the mapping's start).

        Raises:
            OSError: The platform has no process-shared unnamed semaphores (macOS).
        """
        if _libc.sem_init(address + semaphore, 1, 1) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"cannot create a process-shared semaphore: {os.strerror(error)} (shmstruct needs Linux)")

    # ------------------------------------------------------------------ the fast path

    def __enter__(self) -> bool:
        if self._try(False):
            self._depth += 1
            self._holder.value = self._pid
            return True
        return self._acquire_slowly(None)

    def __exit__(self, exc_type: object = None, exc: object = None, traceback: object = None) -> None:
        self._depth -= 1
        if not self._depth:
            self._holder.value = 0
        self._release()

    def acquire(self, block: bool = True, timeout: float | None = None) -> bool:
        """Take the lock.

        Args:
            block: Wait for the lock (the default), or return at once if it is taken.
            timeout: The most seconds to wait (``None``: as long as it takes).

        Returns:
            Whether the lock was taken. Ctrl-C interrupts a wait with ``KeyboardInterrupt``.
        """
        if self._try(False):
            self._depth += 1
            self._holder.value = self._pid
            return True
        if not block:
            return False
        return self._acquire_slowly(timeout)

    def release(self) -> None:
        """Give back one level of ownership.

        Raises:
            AssertionError: The calling thread does not hold the lock.
        """
        if not self._sem._is_mine():
            raise AssertionError(f"release of the lock of block {self.block_name!r}, which this thread does not hold")
        self._depth -= 1
        if not self._depth:
            self._holder.value = 0
        self._release()

    @contextlib.contextmanager
    def bookkeeping(self, timeout: float | None = None) -> Iterator[bool]:
        """Hold the lock for the library's own header updates (users table, references in flight).

        The holder is recorded as ``-pid``: if the process dies in here, the next acquirer takes the
        lock over without a warning, since no user data was being changed. Yields whether the lock
        was taken (``False`` only when ``timeout`` ran out).
        """
        taken = self.acquire(timeout=timeout) if timeout is not None else self.__enter__()
        outer = self._holder.value
        if taken:
            self._holder.value = -self._pid
        try:
            yield taken
        finally:
            if taken:
                self._holder.value = outer
                self.__exit__()

    def held_by_me(self) -> bool:
        """Whether the calling thread holds the lock."""
        return bool(self._sem._is_mine())

    @property
    def holder(self) -> int | None:
        """The pid of the process holding the lock, if one does (a snapshot: it may change at once)."""
        return abs(self._holder.value) or None

    # ------------------------------------------------------------------ waiting and recovering

    def _acquire_slowly(self, timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        # The common contended case: the holder lets go within the first wait. Nothing to check.
        acquired = self._try(True, _FIRST_WAIT if timeout is None else min(_FIRST_WAIT, max(timeout, 0.0)))
        unrecorded = 0
        epoch = self._recoveries()
        dead: tuple[int, list[int]] | None = None
        while not acquired:
            holder = self._holder.value
            if holder:
                unrecorded, epoch = 0, self._recoveries()
                if not is_alive(abs(holder)):
                    dead = self._recover(holder, epoch) or dead
            else:
                unrecorded += 1
                if unrecorded >= _UNRECORDED_CHECKS:
                    dead = self._recover(0, epoch) or dead
                    unrecorded, epoch = 0, self._recoveries()
            wait = _CHECK_EVERY
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    return False
            acquired = self._try(True, wait)
        self._depth += 1
        self._holder.value = self._pid
        if dead is not None and dead[0] >= 0:  # a dead holder in bookkeeping (-pid) changed no user data
            self._warn(*dead)
        return True

    def _recoveries(self) -> int:
        return read_field(self._mapping, self._recoveries_at)

    @property
    def recoveries(self) -> int:
        """How many times the lock has been taken over from a holder that died holding it."""
        return self._recoveries()

    def _recover(self, seen: int, epoch: int) -> tuple[int, list[int]] | None:
        """Hand the semaphore back for a dead holder, unless the situation changed; returns
        (dead holder or 0, suspects) when this process did it."""
        with _recovery_guard(self.block_name):
            if self._recoveries() != epoch or self._holder.value != seen:
                return None  # another process recovered, or the lock changed hands
            if seen and is_alive(abs(seen)):
                return None
            try:
                if self._sem._get_value() != 0:
                    return None  # released meanwhile
            except NotImplementedError:  # pragma: no cover - macOS has no sem_getvalue
                pass
            suspects = [] if seen else [pid for pid in user_pids(self._mapping) if pid and not is_alive(pid)]
            write_field(self._mapping, DEAD_HOLDER, abs(seen) or (suspects[0] if suspects else -1))
            write_field(self._mapping, self._recoveries_at, epoch + 1)
            self._twin.release()
        return (seen, suspects)

    def _warn(self, seen: int, suspects: list[int]) -> None:
        if seen:
            who = f"process {seen} died while holding it"
        elif suspects:
            who = f"a process died while taking it, before it could record itself (probably process {suspects[0]})"
        else:
            who = "a process died while taking it, before it could record itself"
        message = (
            f"the lock of shared block {self.block_name!r} was taken over: {who}. "
            "The data it guards may hold that process's half-finished update."
        )
        try:
            warnings.warn(DeadHolderWarning(message), stacklevel=4)
        except BaseException:
            self.__exit__()  # the warning was turned into an error: do not keep the lock
            raise

    def __reduce__(self) -> tuple[Any, ...]:
        make_reference = self._reference() if self._reference is not None else None
        if make_reference is None:
            raise TypeError(f"the lock of block {self.block_name!r} cannot be pickled: its block is gone from this process")
        reference: tuple[Any, ...] = make_reference()
        return reference

    def __repr__(self) -> str:
        state = "held by this thread" if self._sem._is_mine() else f"holder pid {self.holder}" if self.holder else "free"
        return f"<SharedLock of {self.block_name!r}: {state}>"


@contextlib.contextmanager
def _recovery_guard(block_name: str) -> Iterator[None]:
    """An exclusive ``flock`` on the segment for the few steps of a recovery. The kernel drops it
    if this process dies. If the segment's name is already gone, only the epoch check guards."""
    try:
        fd = _posixshmem.shm_open(segment_path(block_name), os.O_RDWR, mode=0o600)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _forget_owners_after_fork() -> None:
    # A forked child starts holding nothing, whatever its parent held.
    for lock in list(_live_locks):
        lock._sem._after_fork()
        lock._depth = 0
        lock._pid = current_pid()


os.register_at_fork(after_in_child=_forget_owners_after_fork)
