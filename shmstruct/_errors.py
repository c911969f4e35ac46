"""The exception hierarchy: one base class; where a builtin type fits, each error is also one."""

from __future__ import annotations

__all__ = ["ShmStructError", "SchemaError", "FieldTypeError", "FieldValueError", "SharedMemoryGoneError", "LogFullError"]


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
    """A shared block could not be opened by name: its creator has already released it."""


class LogFullError(ShmStructError):
    """``append`` on a log that already holds its capacity (and was not created as a ring). No row was added."""
