"""The operations on structs, tables and logs as functions of the ``shmstruct`` module.

A schema's namespace belongs to its fields: a field may be called ``name``, ``log``, ``update``
or ``snapshot``, and then shadows the method of that name. These functions always work, whatever
the fields are called (as ``attrs.fields`` and ``dataclasses.replace`` do for their classes).
"""

from __future__ import annotations

import stat
import sys

from ._block import DEFAULT_MODE, SharedBlock
from ._errors import short_repr
from ._kinds import Field
from ._layout import Layout
from ._proxy import block_of
from ._schema import schema_of
from ._struct import StructFactory, attach_struct, take_snapshot, update_struct

TYPE_CHECKING = False  # typing is for type checkers only: importing it costs a spawned child ~5 ms
if TYPE_CHECKING:
    from typing import Any

    from pydantic import BaseModel

__all__ = [
    "attach",
    "close",
    "fields",
    "layout",
    "log",
    "options",
    "segment_name",
    "snapshot",
    "snapshot_model",
    "table",
    "unlink",
    "update",
]


def _block(obj: Any) -> SharedBlock:
    """The block behind a struct proxy, a table or a log."""
    tables = sys.modules.get(f"{__package__}._table")  # not loaded: no table or log exists
    if tables is not None and isinstance(obj, tables.Table):
        block: SharedBlock = obj._block
        return block
    try:
        return block_of(obj)
    except (AttributeError, RuntimeError):
        raise TypeError(f"expected a shmstruct struct, table or log, got {short_repr(obj)}") from None


def segment_options(
    *, name: str | None = None, keep: bool = False, mode: int = DEFAULT_MODE, reserve: bool = True
) -> dict[str, Any]:
    """The creation options every kind of segment takes, as :meth:`SharedBlock.create` wants them."""
    return {"name": name, "keep": keep, "mode": mode, "reserve": reserve}


def fields(schema: type[Any]) -> tuple[Field, ...]:
    """The fields of a schema class, parent fields first, with their offsets and sizes.

    Raises:
        TypeError: ``schema`` is not a SharedStruct subclass with fields.
    """
    return schema_of(schema).fields


def layout(schema: type[Any]) -> Layout:
    """Where every field of a schema lives: offsets, sizes, the numpy ``dtype`` and a readable ``table()``.

    Raises:
        TypeError: ``schema`` is not a SharedStruct subclass with fields.
    """
    return schema_of(schema).layout


def snapshot_model(schema: type[Any]) -> type[BaseModel]:
    """The frozen pydantic model class that ``schema``'s snapshots are instances of.

    Its name is the schema's name plus ``Snapshot``; its fields are the schema's fields with their
    Python types and constraints (nested schemas as nested models, arrays as numpy arrays).
    """
    return schema_of(schema).snapshot_model


def snapshot(obj: Any) -> Any:
    """A consistent private copy, taken under the lock: a frozen pydantic model of a struct's
    fields, or a numpy copy of a table's (or log's) rows.

    Nested structs become nested models and arrays read-only numpy copies; ``model_dump()``
    and ``model_dump_json()`` work (arrays dump to lists in JSON).
    """
    from ._table import Table

    if isinstance(obj, Table):
        return obj.snapshot()
    remote = getattr(type(obj), "__shm_snapshot__", None)  # a proxy of a remote store (shmstruct.redis)
    if remote is not None:
        return remote(obj)
    return take_snapshot(obj)


def update(struct: Any, /, **values: Any) -> None:
    """Write several fields of ``struct`` at once, under its lock: all of them or, if any value is
    rejected, none.

    Raises:
        FieldTypeError: An unknown field, or a value of the wrong type.
        FieldValueError: A value out of range or against a constraint.
    """
    remote = getattr(type(struct), "__shm_update__", None)
    if remote is not None:
        remote(struct, values)
        return
    update_struct(struct, values)


def attach(schema: type[Any], name: str) -> Any:
    """A live proxy to the struct of ``schema`` in segment ``name``, from any process.

    Raises:
        SharedMemoryGoneError: No segment of that name exists (any more).
        SchemaMismatchError: The segment holds another schema, or another version of this one.
        SegmentError: The segment is not a shmstruct struct (or is a table or log).
    """
    return attach_struct(schema, name)


# options(), table() and log() spell DEFAULT_MODE (0o600) out, so that the API reference shows what
# it is (it would show 0o600 as 384); tests/test_docs_pages.py checks that they agree.
def options(
    schema: type[Any],
    *,
    name: str | None = None,
    keep: bool = False,
    mode: int = stat.S_IRUSR | stat.S_IWUSR,
    reserve: bool = True,
) -> StructFactory:
    """A constructor of ``schema`` structs with a chosen segment name, lifetime or permissions:
    ``shmstruct.options(State, name="sim", keep=True)(steps=0)``.

    Args:
        schema: The schema class.
        name: The segment's name (what ``attach`` takes); a fresh unguessable one if None.
        keep: Keep the segment after every process stopped using it (until ``shmstruct.unlink``).
        mode: Permission bits of the segment (default ``0o600``: this user only).
        reserve: Reserve the segment's memory at creation (the default). ``False`` makes creation
            nearly free for sparse giant arrays, but a write to a page that a full ``/dev/shm``
            cannot back then kills the process with ``SIGBUS``.
    """
    schema_of(schema)
    return StructFactory(schema, segment_options(name=name, keep=keep, mode=mode, reserve=reserve))


def table(
    schema: type[Any],
    rows: int,
    *,
    name: str | None = None,
    keep: bool = False,
    mode: int = stat.S_IRUSR | stat.S_IWUSR,
    reserve: bool = True,
) -> Any:
    """A shared table of ``rows`` records of ``schema``, each starting with the defaults (the
    other options are those of ``shmstruct.options()``)."""
    from ._table import create_table

    schema_of(schema)
    return create_table(schema, rows, segment_options(name=name, keep=keep, mode=mode, reserve=reserve))


def log(
    schema: type[Any],
    capacity: int,
    *,
    ring: bool = False,
    name: str | None = None,
    keep: bool = False,
    mode: int = stat.S_IRUSR | stat.S_IWUSR,
    reserve: bool = True,
) -> Any:
    """An empty shared append-only log with room for ``capacity`` records of ``schema``; with
    ``ring=True`` each append past ``capacity`` overwrites the oldest row (the other options are
    those of ``shmstruct.options()``)."""
    from ._table import create_log

    schema_of(schema)
    return create_log(schema, capacity, ring, segment_options(name=name, keep=keep, mode=mode, reserve=reserve))


def segment_name(obj: Any) -> str:
    """The name of the shared segment holding a struct, table or log (what ``attach`` takes)."""
    remote = getattr(type(obj), "__shm_name__", None)
    if remote is not None:
        name: str = remote(obj)
        return name
    return _block(obj).name


def close(obj: Any) -> None:
    """Stop using a struct, table or log in this process; the last process to stop removes its
    segment (see the lifecycle in the README). Idempotent."""
    remote = getattr(type(obj), "__shm_close__", None)
    if remote is not None:
        remote(obj)
        return
    _block(obj).close()


def unlink(name: str, force: bool = True) -> None:
    """Remove shared segment ``name`` now (processes that have it mapped keep working). For
    segments created with ``keep=True``, left behind, or damaged.

    Args:
        name: The segment's name.
        force: Remove it even while live processes use it (the default); if False, such a
            segment is refused, naming them.

    Raises:
        SharedMemoryGoneError: No such segment.
        SegmentError: Not a regular file (a FIFO, a directory, a link: not removed), or in use
            and ``force`` is False.
    """
    from ._inspect import remove  # looking at segments from outside: not every process needs it

    remove(name, force)
