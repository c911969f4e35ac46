"""The exception hierarchy: one base class; where a builtin type fits, each error is also one."""

from __future__ import annotations

TYPE_CHECKING = False  # typing is for type checkers only: importing it costs a spawned child ~5 ms
if TYPE_CHECKING:
    from typing import Any


__all__ = [
    "DeadHolderWarning",
    "FieldTypeError",
    "FieldValueError",
    "LeaseExpiredError",
    "LogFullError",
    "SchemaError",
    "SchemaMismatchError",
    "SegmentError",
    "SegmentExistsError",
    "SegmentNameError",
    "SharedMemoryFullError",
    "SharedMemoryGoneError",
    "ShmStructError",
    "StoreUnavailableError",
    "short_repr",
]


def short_repr(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class ShmStructError(Exception):
    """Base class of every error shmstruct raises on purpose."""


class SchemaError(ShmStructError, TypeError):
    """A schema class cannot be laid out in shared memory (raised when the class is defined).

    The message names ``Class.field``, what was declared and what to write instead.
    """


class FieldTypeError(ShmStructError, TypeError):
    """A value of the wrong type was written to a field. The stored value is unchanged."""


class FieldValueError(ShmStructError, ValueError):
    """A value of the right type does not fit the field: out of the C type's range, too many
    UTF-8 bytes, a wrong array shape, or a user constraint failed. The stored value is unchanged."""


class SharedMemoryGoneError(ShmStructError, FileNotFoundError):
    """No shared segment of that name exists (never created, or already removed)."""


class SharedMemoryFullError(ShmStructError, OSError):
    """``/dev/shm`` has no room for a new segment (``errno`` is ``ENOSPC``). Nothing was created.

    The message says how many bytes were needed, how many are free, and how to get more. Space is
    reserved when a segment is created, so a segment that was created never runs out of memory
    later (no ``SIGBUS`` on a write).

    The Redis store raises it too, when the server is at its ``maxmemory``: the refused operation
    changed nothing.
    """


class LogFullError(ShmStructError):
    """``append`` on a log that already holds its capacity (and was not created as a ring). No row was added."""


class SegmentError(ShmStructError, ValueError):
    """A segment exists but cannot be attached: it is not shmstruct's, it is truncated, it was
    written by an incompatible version, or it holds another kind (a table where a struct was asked)."""


class SchemaMismatchError(SegmentError):
    """The segment holds another schema, or a changed version of this one; the message says what differs."""


class SegmentExistsError(ShmStructError, FileExistsError):
    """A segment of the requested name already exists."""


class SegmentNameError(ShmStructError, ValueError):
    """A segment name given by the user is not allowed (see ``shmstruct.MAX_NAME_LENGTH``)."""


class DeadHolderWarning(RuntimeWarning):
    """Warned by the process that took a lock over from a holder that died holding it.

    The guarded data may hold the dead process's half-finished update. Turn it into an error
    with ``warnings.simplefilter("error", DeadHolderWarning)``: the lock is then released before
    the error propagates.
    """


class LeaseExpiredError(ShmStructError):
    """A remote lock's lease passed while its holder still held it (a pause, a stall, a section
    longer than the lease), so another process may have taken the lock. The write that found it
    out was refused by the server and changed nothing (``shmstruct.redis``)."""


class StoreUnavailableError(ShmStructError, ConnectionError):
    """The remote store's server cannot be reached, or stopped answering, during an operation.
    A write that fails this way may or may not have been applied: read the value again once the
    server is back (``shmstruct.redis``)."""
