"""The shared lock: a re-entrant lock that any process can reopen by name.

It is CPython's own semaphore lock (``_multiprocessing.SemLock``, the object behind
``multiprocessing.RLock``) used directly: its ``acquire``, ``release``, ``__enter__`` and
``__exit__`` are C functions, where ``multiprocessing.RLock`` wraps them in Python methods. The
semaphore is named and the name is kept until the block is released, so the lock pickles to its
name and reopens by name under every start method, not only through inheritance.
"""

from __future__ import annotations

import importlib
import os
import weakref
from typing import TYPE_CHECKING, Any

__all__ = ["SharedLock"]

# No type stubs exist for this CPython module; it is the same object multiprocessing.RLock wraps.
_multiprocessing: Any = importlib.import_module("_multiprocessing")

_RECURSIVE_MUTEX = 0  # multiprocessing.synchronize.RECURSIVE_MUTEX

_live_locks: weakref.WeakSet[SharedLock] = weakref.WeakSet()


class SharedLock(_multiprocessing.SemLock):  # type: ignore[misc]
    """A re-entrant lock shared by every process that uses a struct.

    Use ``with s.lock:`` around any read-modify-write or any group of fields that must change
    together. The lock is re-entrant: the thread that holds it may acquire it again (each
    ``acquire`` needs its ``release``). Another thread or process blocks until it is free.

    Methods:
        acquire(block=True, timeout=None): Take the lock; returns ``False`` when ``block`` is false
            or ``timeout`` (seconds) runs out before the lock is free.
        release(): Give back one level of ownership; releasing a lock this thread does not hold
            raises ``AssertionError``.
    """

    if TYPE_CHECKING:  # the C methods inherited from SemLock, as the type checker should see them
        name: str

        def acquire(self, block: bool = True, timeout: float | None = None) -> bool: ...
        def release(self) -> None: ...
        def __enter__(self) -> bool: ...
        def __exit__(self, *exc_info: object) -> None: ...

    @classmethod
    def create(cls, name: str) -> SharedLock:
        """Create a new named lock (``name`` starts with ``/``); the caller owns the name."""
        lock: SharedLock = cls(_RECURSIVE_MUTEX, 1, 1, name, False)
        _live_locks.add(lock)
        return lock

    @classmethod
    def open(cls, name: str) -> SharedLock:
        """Open an existing named lock."""
        lock: SharedLock = cls._rebuild(0, _RECURSIVE_MUTEX, 1, name)
        _live_locks.add(lock)
        return lock

    @staticmethod
    def unlink(name: str) -> None:
        """Remove the lock's name (processes that opened it keep working)."""
        _multiprocessing.sem_unlink(name)

    def held_by_me(self) -> bool:
        """Whether the calling thread holds the lock."""
        return bool(self._is_mine())

    def __reduce__(self) -> tuple[Any, ...]:
        return (SharedLock.open, (self.name,))

    def __repr__(self) -> str:
        state = "held by this thread" if self._is_mine() else "not held by this thread"
        return f"<SharedLock {self.name} {state}>"


def _forget_owners_after_fork() -> None:
    # A forked child starts with no thread holding anything, whatever the parent held.
    for lock in list(_live_locks):
        lock._after_fork()


os.register_at_fork(after_in_child=_forget_owners_after_fork)
