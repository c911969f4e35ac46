"""The shared lock of a block: a robust, process-shared, re-entrant pthread mutex in the block's
header, with a condition (wait / notify) beside it.

The mutex and everything that blocks live in the C extension :mod:`shmstruct._native`; this
module adds what is Python's business: ``wait_for``, the library's quiet holdings, pickling and
the repr. ``with s.lock:`` calls the extension's ``__enter__``/``__exit__`` directly.

Owner death is detected by the kernel (a robust futex: ``EOWNERDEAD``), never inferred from time:
a holder that is merely slow, paused (``SIGSTOP``, a debugger) or swapped out keeps the lock for
as long as it lives. When a holder process is killed, or a thread exits holding the lock, the
kernel hands it to the next acquirer at once; that acquirer repairs the mutex, counts the
recovery and warns with :class:`~shmstruct.DeadHolderWarning`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from . import _native
from ._errors import DeadHolderWarning, FieldTypeError, FieldValueError, SegmentError

TYPE_CHECKING = False  # typing is for type checkers only: importing it costs a spawned child ~5 ms

__all__ = ["SharedLock"]

if TYPE_CHECKING:
    from typing import Any, TypeVar

    T = TypeVar("T")

_native.configure(DeadHolderWarning, FieldTypeError, FieldValueError)


class SharedLock(_native.Mutex):
    """The re-entrant lock of one shared block, shared by every process that uses it.

    Use ``with s.lock:`` around any read-modify-write or any group of fields that must change
    together. The thread that holds the lock may take it again (each ``acquire`` needs its
    ``release``); other threads and processes wait. A forked child holds nothing.

    The lock is also a condition variable, like ``threading.Condition``: a holder can
    ``wait()`` for another process to ``notify()``, without polling.

    If a process dies while holding the lock (or a thread exits holding it), the next process to
    ask for it gets it at once and warns with ``DeadHolderWarning``: the data may
    hold that process's half-finished update. A live holder is never taken over, however long it
    is paused.
    """

    __slots__ = ("__weakref__", "_reference", "block_name")

    def __init__(self, block_name: str, mapping: Any, offset: int, *, warn: bool = True) -> None:
        # ``mapping`` is the block's mmap; the extension keeps a buffer export of it, so it stays
        # mapped for as long as this object lives. ``warn`` is False for the library's own lock.
        try:
            super().__init__(mapping, offset, f"the lock of shared block {block_name!r}", warn)
        except ValueError as exc:
            raise SegmentError(str(exc)) from None
        self.block_name = block_name
        self._reference: Any = None  # how the lock pickles: set by the block that owns it

    def wait_for(self, predicate: Callable[[], T], timeout: float | None = None) -> T:
        """Wait until ``predicate()`` is true (checked first, then after every wake-up), holding
        the lock whenever it is called; like ``threading.Condition.wait_for``.

        Args:
            predicate: Reads the shared state; called with the lock held.
            timeout: The most seconds to wait in all (``None``: as long as it takes).

        Returns:
            The last value of ``predicate()`` (falsy if the timeout passed first).

        Raises:
            RuntimeError: The calling thread does not hold the lock.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        result = predicate()
        while not result:
            if deadline is None:
                self.wait()
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.wait(left)
            result = predicate()
        return result

    @contextlib.contextmanager
    def bookkeeping(self, timeout: float | None = None) -> Iterator[bool]:
        """Hold the lock for something that changes no user data (the library's header updates, a
        reader's copy): if the process dies in here, the next holder is not warned. Yields whether
        the lock was taken (``False`` only when ``timeout`` ran out)."""
        taken = self.acquire(timeout=timeout)
        outer = self._set_quiet(True) if taken else False
        try:
            yield taken
        finally:
            if taken:
                self._set_quiet(outer)
                self.release()

    def __reduce__(self) -> tuple[Any, ...]:
        make_reference = self._reference() if self._reference is not None else None
        if make_reference is None:
            raise TypeError(
                f"the lock of block {self.block_name!r} cannot be pickled: its block is gone from this process"
            )
        reference: tuple[Any, ...] = make_reference()
        return reference

    def __repr__(self) -> str:
        holder = self.holder
        state = "held by this thread" if self.held_by_me() else f"held by pid {holder}" if holder else "free"
        return f"<SharedLock of {self.block_name!r}: {state}>"
