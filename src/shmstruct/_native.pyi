"""Type stubs of the C extension (shmstruct/_native.c)."""

from typing import Any, ClassVar, Generic, TypeVar, overload

from typing_extensions import Self

LOCK_SIZE: int
LOCK_HOLDER: int
LOCK_RECOVERIES: int
LOCK_DEAD_HOLDER: int

def init_lock(mapping: Any, offset: int, /) -> None: ...
def configure(
    dead_holder_warning: type[Warning], field_type_error: type[Exception], field_value_error: type[Exception], /
) -> None: ...

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
        process or thread calls ``notify`` or ``notify_all``, then take it back at the
        same depth, as ``threading.Condition.wait`` does.

        Args:
            timeout: The most seconds to sleep (``None``: as long as it takes).

        Returns:
            ``True`` when woken by a notify, ``False`` when the timeout passed. A wake-up can be
            shared (one ``notify()`` may wake more than one waiter): re-check the state, or use
            ``wait_for``.

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
        """Wake every waiter (see ``notify``)."""
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

_T = TypeVar("_T", bound=int)

class Atomic(Generic[_T]):
    """A lock-free integer field: declare it ``hits: Atomic[int] = atomic()`` (``int64``), or
    ``Atomic[shmstruct.uint32]`` (also ``int32`` and ``uint64``).

    ``s.hits`` reads as this object, bound to the shared value. Each operation is one sequentially
    consistent atomic instruction on the shared address; none takes the block's lock. Every write
    is range-checked: one that would leave the C type's range raises
    ``FieldValueError`` and changes nothing.

    For type checkers it is also a descriptor whose ``__set__`` takes an ``int``, so that
    ``s.hits = 5`` and ``State(hits=5)`` type-check (as checked atomic stores).
    """

    def __init__(self, mapping: Any, offset: int, kind: str, label: str, changes: int) -> None: ...
    @overload
    def __get__(self, obj: None, owner: Any) -> Self: ...
    @overload
    def __get__(self, obj: object, owner: Any) -> Self: ...
    def __set__(self, obj: object, value: int) -> None: ...
    def load(self) -> int:
        """The current value."""
    def store(self, value: int, /) -> None:
        """Set the value (range-checked); wakes the waiters."""
    def add(self, n: int, /) -> int:
        """Add ``n`` and return the previous value, like C's ``fetch_add``.

        Raises:
            FieldValueError: The result would leave the field's range (nothing changes).
        """
    def sub(self, n: int, /) -> int:
        """Subtract ``n`` and return the previous value (range-checked like ``add``)."""
    def exchange(self, value: int, /) -> int:
        """Set the value and return the previous one."""
    def compare_exchange(self, expected: int, new: int, /) -> bool:
        """Set the value to ``new`` if it is ``expected``; return whether it was."""
    def wait(self, old: int, timeout: float | None = None) -> bool:
        """Sleep until the value differs from ``old`` (``True``) or ``timeout`` seconds pass
        (``False``); returns at once if it differs already. Without polling: every atomic write
        of the block wakes the waiters, and ``notify_all`` does after other changes."""
    def notify_all(self) -> None:
        """Wake every ``wait`` on this block's atomic fields (atomic writes do it themselves;
        this is for changes made another way, such as through a numpy view)."""
    def __int__(self) -> int: ...
    def __index__(self) -> int: ...
    def __eq__(self, other: object) -> bool: ...
    def __ne__(self, other: object) -> bool: ...
    def __lt__(self, other: int) -> bool: ...
    def __le__(self, other: int) -> bool: ...
    def __gt__(self, other: int) -> bool: ...
    def __ge__(self, other: int) -> bool: ...
    __hash__: ClassVar[None]  # type: ignore[assignment]

class FieldSetter:
    def __init__(self, writers: dict[str, tuple[Any, Any, Any, type]], slow: Any) -> None: ...
    def __call__(self, obj: Any, name: str, value: Any, /) -> None: ...
