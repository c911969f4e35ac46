"""The lock of a struct stored in Redis: a lease with a fencing token.

A remote holder can pause for longer than any timeout (a GC pause, SIGSTOP, a network stall), so
the lock cannot promise that its holder is the only one: it is a *lease* that the server ends
after ``lease`` seconds. What it promises instead is that a holder whose lease has ended cannot
change the struct: every acquire gets a new fencing token (a counter on the server), every write
made while holding the lock carries it, and the server refuses a write whose token is not the
current holder's, with :class:`~shmstruct.LeaseExpiredError`. A waiter sleeps on the server
(``BLPOP`` on a wake-up list that each release pushes to), never polls, and wakes at the latest
when the holder's lease ends.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING, Any

from .._errors import LeaseExpiredError, SharedMemoryGoneError
from . import _scripts

if TYPE_CHECKING:
    from ._store import Store
    from ._target import Keys

__all__ = ["RemoteLock"]


class RemoteLock:
    """The lock of one struct in Redis, shared by every proxy of it in this process; re-entrant
    for the thread that holds it. Use it as ``with s.lock:``."""

    def __init__(self, store: Store, keys: Keys) -> None:
        self._store = store
        self._keys = keys
        self._owner: int | None = None  # the holding thread's ident
        self._depth = 0
        self._token = b""
        self._local = threading.Lock()  # threads of this process queue here before asking the server
        self._pid = os.getpid()

    def __repr__(self) -> str:
        state = f"held (token {self._token.decode()})" if self._owner is not None else "not held here"
        return f"<RemoteLock of Redis key {self._keys.key!r}, {state}>"

    @property
    def token(self) -> int | None:
        """The fencing token of the current holding (this thread's), or ``None``."""
        self._after_fork()
        return int(self._token) if self._owner == threading.get_ident() else None

    def held_token(self) -> bytes:
        """The token writes of this thread carry (``b""`` when it does not hold the lock)."""
        self._after_fork()
        return self._token if self._owner == threading.get_ident() else b""

    def _after_fork(self) -> None:
        """In a forked child, forget the parent's holding: the child holds nothing (the lock is
        still the parent's on the server), and its threads have not queued here."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._owner, self._depth, self._token = None, 0, b""
            self._local = threading.Lock()

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Take the lock for ``lease`` seconds (the store's); re-entrant for the holding thread.

        Args:
            blocking: Wait for it (``False``: try once).
            timeout: Give up after this many seconds (``None``: wait as long as it takes).

        Returns:
            Whether the lock was taken.
        """
        self._after_fork()
        me = threading.get_ident()
        if self._owner == me:
            self._depth += 1
            return True
        deadline = None if timeout is None or timeout < 0 else time.monotonic() + timeout
        if not blocking:
            local_taken = self._local.acquire(False)
        else:
            local_taken = self._local.acquire(True, -1 if deadline is None else max(0.0, deadline - time.monotonic()))
        if not local_taken:
            return False
        try:
            token = self._take(blocking, deadline)
        except BaseException:
            self._local.release()
            raise
        if token is None:
            self._local.release()
            return False
        self._owner, self._depth, self._token = me, 1, token
        return True

    def _take(self, blocking: bool, deadline: float | None) -> bytes | None:
        store, keys = self._store, self._keys
        lease_ms = str(max(1, round(store.lease * 1000)))
        while True:
            taken, value = store.run(_scripts.ACQUIRE, keys, (keys.lock, keys.fence), [lease_ms])
            if taken:
                return str(value).encode()
            if not blocking:
                return None
            wait = max(0.001, int(value) / 1000) if int(value) > 0 else 0.001  # until the lease ends at most
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                wait = min(wait, left)
            cap = store.block_slice
            with store.errors(keys):
                store.client.blpop([keys.wake], timeout=max(wait if cap is None else min(wait, cap), 0.001))

    def release(self) -> None:
        """Release the lock (the outermost release of a re-entrant holding).

        Raises:
            RuntimeError: This thread does not hold it.
            LeaseExpiredError: The lease had passed: another process may have held the lock
                meanwhile (the writes made after that were refused).
            SharedMemoryGoneError: The struct, log or table was deleted while the lock was held.
        """
        self._after_fork()
        if self._owner != threading.get_ident():
            raise RuntimeError(f"cannot release the lock of Redis key {self._keys.key!r}: this thread does not hold it")
        self._depth -= 1
        if self._depth:
            return
        token = self._token
        self._owner, self._token = None, b""
        self._local.release()
        store, keys = self._store, self._keys
        lease_ms = str(max(1, round(store.lease * 1000)))
        if not store.run(_scripts.RELEASE, keys, (keys.lock, keys.wake), [token, lease_ms]):
            if not store.exists(keys.key):
                raise SharedMemoryGoneError(
                    f"the struct, log or table at Redis key {keys.key!r} was deleted while its lock was held"
                )
            raise LeaseExpiredError(
                f"the lease on Redis key {keys.key!r}'s lock (token {token.decode()}, {store.lease:g} s) had passed "
                "before it was released: another process may have held the lock meanwhile"
            )

    def renew(self) -> None:
        """Start a full lease again from now (for a holder that needs longer than one lease).

        Raises:
            RuntimeError: This thread does not hold the lock.
            LeaseExpiredError: The lease had passed already.
        """
        token = self.held_token()
        if not token:
            raise RuntimeError(f"cannot renew the lock of Redis key {self._keys.key!r}: this thread does not hold it")
        store, keys = self._store, self._keys
        lease_ms = str(max(1, round(store.lease * 1000)))
        if not store.run(_scripts.RENEW, keys, (keys.lock,), [token, lease_ms]):
            raise LeaseExpiredError(f"the lease on Redis key {keys.key!r}'s lock had passed before renew()")

    def __enter__(self) -> RemoteLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> None:
        if exc_type is None:
            self.release()
            return
        try:  # an error is on its way: release, and let the lease's fate not hide it
            self.release()
        except (LeaseExpiredError, SharedMemoryGoneError):
            pass
