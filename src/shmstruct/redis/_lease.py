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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from .._errors import LeaseExpiredError, SharedMemoryGoneError, short_repr
from . import _scripts

if TYPE_CHECKING:
    from ._store import Listener, Store
    from ._target import Keys

__all__ = ["RemoteLock"]

T = TypeVar("T")


def _deadline(timeout: Any) -> float | None:
    """The monotonic deadline of ``timeout`` seconds, as ``SharedLock`` reads a timeout: ``None``
    or -1 wait as long as it takes.

    Raises:
        TypeError: It is not a number.
        ValueError: It is NaN, or negative other than -1.
    """
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        try:
            timeout = float(timeout)
        except (TypeError, ValueError):
            raise TypeError(f"timeout must be a number of seconds or None, got {short_repr(timeout)}") from None
    if timeout != timeout:
        raise ValueError("timeout must be a number of seconds, not nan")
    if timeout < 0:
        if timeout == -1:
            return None
        raise ValueError("timeout must be >= 0 (or None, or -1, to wait as long as it takes)")
    return time.monotonic() + float(timeout)


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

    def acquire(self, block: bool = True, timeout: float | None = None) -> bool:
        """Take the lock for ``lease`` seconds (the store's); re-entrant for the holding thread.

        Args:
            block: Wait for it (``False``: try once), as ``SharedLock.acquire`` takes it.
            timeout: Give up after this many seconds (``None``: wait as long as it takes).

        Returns:
            Whether the lock was taken.
        """
        self._after_fork()
        me = threading.get_ident()
        if self._owner == me:
            self._depth += 1
            return True
        deadline = _deadline(timeout)
        if not block:
            local_taken = self._local.acquire(False)
        else:
            local_taken = self._local.acquire(True, -1 if deadline is None else max(0.0, deadline - time.monotonic()))
        if not local_taken:
            return False
        try:
            token = self._take(block, deadline)
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
            taken, value = store.run(_scripts.ACQUIRE, keys, (keys.lock, keys.fence, keys.data, keys.meta), [lease_ms])
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
            # At most a second at a time: a release wakes one waiter, and one that cannot take it
            # up (stopped, killed) must not leave the others asleep until the lease ends.
            cap = min(store.block_slice or 1.0, 1.0)
            with store.errors(keys):
                store.client.blpop([keys.wake], timeout=max(min(wait, cap), 0.001))

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

    def held_by_me(self) -> bool:
        """Whether the calling thread holds the lock."""
        self._after_fork()
        return self._owner == threading.get_ident()

    @property
    def holder(self) -> int | None:
        """Always ``None``: a lease's holder may be a process on another host, so no pid names it
        (``token`` identifies this thread's holding)."""
        return None

    @property
    def recoveries(self) -> int:
        """Always 0: a lease is not taken over from a dead holder; it ends on its own."""
        return 0

    @property
    def dead_holder(self) -> int | None:
        """Always ``None`` (see ``recoveries``)."""
        return None

    def wait(self, timeout: float | None = None) -> bool:
        """Release the lock completely (however often this thread took it), sleep on the server
        until another process or thread calls ``notify`` or ``notify_all`` (or appends to the log
        this lock guards), then take it back at the same depth, as ``SharedLock.wait`` does.

        Args:
            timeout: The most seconds to sleep (``None``: as long as it takes).

        Returns:
            ``True`` when woken by a notify, ``False`` when the timeout passed. Every notify wakes
            every waiter: re-check the state, or use ``wait_for``. (Appends to a Redis log do not
            take its lock: one made between a check and ``wait`` is not waited for; ``wait_for``
            listens before it checks, so it misses none.)

        Raises:
            RuntimeError: This thread does not hold the lock.
            LeaseExpiredError: The lease had passed before the wait released it (the lock is
                held again when this is raised, so that ``with s.lock:`` ends normally).
            SharedMemoryGoneError: What the lock guards was deleted (the lock is not held then).
        """
        deadline = _deadline(timeout)
        with self._listening("wait") as listener:
            return self._sleep(listener, deadline)

    def wait_for(self, predicate: Callable[[], T], timeout: float | None = None) -> T:
        """Wait (see ``wait``) until ``predicate()`` is true, checking it first and after every
        wake-up, with the lock held; return its last result (false when ``timeout`` passed). It
        listens for notifications before the first check, so none made after a check is missed."""
        deadline = _deadline(timeout)
        with self._listening("wait") as listener:
            result = predicate()
            while not result:
                if deadline is not None and deadline <= time.monotonic():
                    break
                self._sleep(listener, deadline)
                result = predicate()
            return result

    @contextmanager
    def _listening(self, verb: str) -> Iterator[Listener]:
        """A subscription to this lock's notifications, for a thread that holds it."""
        if not self.held_by_me():
            raise RuntimeError(
                f"cannot {verb} on the lock of Redis key {self._keys.key!r}: this thread does not hold it"
            )
        with self._store.listening(self._keys, self._channel) as listener:
            yield listener

    def _sleep(self, listener: Listener, deadline: float | None) -> bool:
        """Release the lock completely, sleep until ``listener`` hears a notification or
        ``deadline`` passes, take the lock back at the same depth; whether it heard one.

        Raises:
            SharedMemoryGoneError: What the lock guards was deleted meanwhile (the lock is not
                taken back).
        """
        store, keys = self._store, self._keys
        depth = self._depth
        woken = gone = False
        try:
            self._depth = 1
            self.release()
            while not woken:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                woken = listener.heard(left)
                if not woken and not store.exists(keys.key):  # a deleted key sends no notification
                    gone = True
                    raise SharedMemoryGoneError(f"the {keys.kind} at Redis key {keys.key!r} was deleted during a wait")
        finally:
            if not gone and not self.held_by_me():
                self.acquire()  # if this fails (Ctrl-C, the server), the lock is not held: see __exit__
            self._depth = depth if self.held_by_me() else 0
        return woken

    def notify(self, n: int = 1) -> None:
        """Wake the waiters (every one: a notification on the server reaches all of them).

        Raises:
            RuntimeError: This thread does not hold the lock.
        """
        if not self.held_by_me():
            raise RuntimeError(
                f"cannot notify on the lock of Redis key {self._keys.key!r}: this thread does not hold it"
            )
        with self._store.errors(self._keys):
            self._store.client.publish(self._channel, "")

    def notify_all(self) -> None:
        """Wake every waiter (see ``notify``)."""
        self.notify()

    @property
    def _channel(self) -> str:
        return f"{self._keys.data}:notify"

    def __enter__(self) -> RemoteLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> None:
        if exc_type is None:
            self.release()
            return
        if not self.held_by_me():  # a wait that could not take the lock back: let its error through
            return
        try:  # an error is on its way: release, and let the lease's fate not hide it
            self.release()
        except (LeaseExpiredError, SharedMemoryGoneError):
            pass
