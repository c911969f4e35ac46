"""Type stubs of the C extension (shmstruct/_native.c)."""

from typing import Any, ClassVar

LOCK_SIZE: int
LOCK_HOLDER: int
LOCK_RECOVERIES: int
LOCK_DEAD_HOLDER: int

def init_lock(mapping: Any, offset: int, /) -> None: ...
def configure(dead_holder_warning: type[Warning], field_type_error: type[Exception], field_value_error: type[Exception], /) -> None: ...

class Mutex:
    def __init__(self, mapping: Any, offset: int, label: str, warn: bool = True) -> None: ...
    def __enter__(self) -> bool: ...
    def __exit__(self, exc_type: object = None, exc: object = None, traceback: object = None, /) -> None: ...
    def acquire(self, block: bool = True, timeout: float | None = None) -> bool:
        """Take the lock.

        Args:
            block: Wait for the lock (the default), or return at once if it is taken.
            timeout: The most seconds to wait (``None``: as long as it takes).

        Returns:
            Whether the lock was taken. Ctrl-C interrupts a wait with ``KeyboardInterrupt``.
        """
    def release(self) -> None:
        """Give back one level of ownership.

        Raises:
            AssertionError: The calling thread does not hold the lock.
        """
    def held_by_me(self) -> bool:
        """Whether the calling thread holds the lock."""
    def wait(self, timeout: float | None = None) -> bool:
        """Release the lock completely (however often this thread took it), sleep until another
        process or thread calls :meth:`notify` or :meth:`notify_all`, then take it back at the
        same depth, as :meth:`threading.Condition.wait` does.

        Args:
            timeout: The most seconds to sleep (``None``: as long as it takes).

        Returns:
            ``True`` when woken by a notify, ``False`` when the timeout passed. A wake-up can be
            shared (one ``notify()`` may wake more than one waiter): re-check the state, or use
            :meth:`wait_for`.

        Raises:
            RuntimeError: The calling thread does not hold the lock.
        """
    def notify(self, n: int = 1) -> None:
        """Wake up to ``n`` waiters. The caller must hold the lock; with nobody waiting it costs
        no system call.

        Raises:
            RuntimeError: The calling thread does not hold the lock.
        """
    def notify_all(self) -> None:
        """Wake every waiter (see :meth:`notify`)."""
    def _set_quiet(self, flag: bool, /) -> bool: ...
    @property
    def holder(self) -> int | None:
        """The pid of the process holding the lock, or ``None`` (a snapshot of the moment)."""
    @property
    def recoveries(self) -> int:
        """How many times the lock was taken over from a holder that died holding it."""
    @property
    def dead_holder(self) -> int | None:
        """The pid of the last holder found dead (``-1``: it died before recording its pid), or ``None``."""

class AtomicInt:
    def __init__(self, mapping: Any, offset: int, kind: str, label: str, changes: int) -> None: ...
    def load(self) -> int: ...
    def store(self, value: int, /) -> None: ...
    def add(self, n: int, /) -> int: ...
    def sub(self, n: int, /) -> int: ...
    def exchange(self, value: int, /) -> int: ...
    def compare_exchange(self, expected: int, new: int, /) -> bool: ...
    def wait(self, old: int, timeout: float | None = None) -> bool: ...
    def notify_all(self) -> None: ...
    def __int__(self) -> int: ...
    def __index__(self) -> int: ...
    def __eq__(self, other: object) -> bool: ...
    def __ne__(self, other: object) -> bool: ...
    def __lt__(self, other: int) -> bool: ...
    def __le__(self, other: int) -> bool: ...
    def __gt__(self, other: int) -> bool: ...
    def __ge__(self, other: int) -> bool: ...
    __hash__: ClassVar[None]  # type: ignore[assignment]
