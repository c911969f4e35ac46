"""Tables and logs: many records of one schema in one shared block, guarded by one lock.

A :class:`Table` has a fixed number of rows, all starting with the schema's defaults. A
:class:`Log` is a bounded append-only table: a shared count of appended rows, then ``capacity``
row slots. ``append`` checks the values first, then, under the lock, writes the row and only
then raises the count, so every reader sees only rows whose append has finished.

Both are numpy structured arrays over shared memory (``records``), with checked row proxies
(``table[i]``) of the schema's type on top.
"""

from __future__ import annotations

import ctypes
import operator
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from ._block import SharedBlock
from ._errors import LogFullError
from ._header import APPENDED, FLAGS, RING, read_field
from ._lifecycle import Reference, What, reference_to, register_builder
from ._lock import SharedLock
from ._schema import from_address, schema_of
from ._struct import SharedStruct, bind_proxy

if TYPE_CHECKING:
    import numpy as np
    from typing_extensions import Self

    Records = np.ndarray[Any, np.dtype[np.void]]

__all__ = ["Log", "Table", "create_log", "create_table"]

S = TypeVar("S", bound=SharedStruct)


class Table(Generic[S]):
    """A fixed number of records of one schema, in one shared block, guarded by one lock.

    ``table[i]`` is a live, checked proxy of row ``i`` (negative indexes count from the end);
    ``table[a:b]`` is a table of those rows that shares their memory; ``records`` and
    ``column(name)`` are zero-copy numpy views. Writes through numpy views are not checked.

    Tables pickle by reference: a table (or a slice of one) handed to another process writes into
    the same memory.
    """

    __slots__ = ("_block", "_itemsize", "_offset", "_schema", "_storage")

    def __init__(self, schema: type[S], block: SharedBlock, offset: int, rows: int) -> None:
        import numpy as np  # tables are numpy structured arrays

        self._schema = schema
        self._block = block
        self._offset = offset
        dtype = schema_of(schema).dtype
        self._itemsize: int = dtype.itemsize
        self._storage: Records = np.ndarray((rows,), dtype=dtype, buffer=block.view_buffer(), offset=offset)

    def _rows(self) -> Records:
        """The rows in use: all of them for a table, the appended ones for a log."""
        return self._storage

    @property
    def schema(self) -> type[S]:
        """The schema class of the rows."""
        return self._schema

    @property
    def lock(self) -> SharedLock:
        """The one re-entrant lock of the whole table, shared by every row proxy and process."""
        return self._block.lock

    @property
    def records(self) -> Records:
        """A zero-copy numpy structured view of the rows (``dtype == shmstruct.layout(schema).dtype``)."""
        return self._rows()

    def column(self, name: str) -> np.ndarray[Any, Any]:
        """A zero-copy view of one field: shape ``(n,)`` for scalars, ``(n, *shape)`` for arrays.

        Raises:
            KeyError: No such field; the message lists the fields.
        """
        names = self._storage.dtype.names or ()
        if name not in names:
            raise KeyError(f"{self._schema.__name__} has no field {name!r}; fields: {', '.join(names)}")
        column: np.ndarray[Any, Any] = self._rows()[name]
        return column

    def __len__(self) -> int:
        return len(self._rows())

    @overload
    def __getitem__(self, index: int) -> S: ...
    @overload
    def __getitem__(self, index: slice) -> Table[S]: ...
    def __getitem__(self, index: int | slice) -> S | Table[S]:
        length = len(self)
        if isinstance(index, slice):
            start, stop, step = index.indices(length)
            if step != 1:
                raise ValueError(
                    "a table view takes contiguous rows: use a step of 1, or .records[::step] for a numpy view"
                )
            return Table(self._schema, self._block, self._offset + start * self._itemsize, max(0, stop - start))
        try:
            index = operator.index(index)  # ints and numpy integers
        except TypeError:
            raise TypeError(f"{type(self).__name__} indexes are ints or slices, not {type(index).__name__}") from None
        position = index + length if index < 0 else index
        if not 0 <= position < length:
            raise IndexError(f"row {index} is out of range for a {type(self).__name__.lower()} of {length} rows")
        row: S = bind_proxy(self._schema, self._block, self._offset + position * self._itemsize)
        return row

    def __iter__(self) -> Iterator[S]:
        # The rows in use when iteration starts; no bounds check (nor, for a log, lock) per row.
        for i in range(len(self)):
            row: S = bind_proxy(self._schema, self._block, self._offset + i * self._itemsize)
            yield row

    def _locked_copy(self) -> Records:
        with self._block.lock:
            copy: Records = self._rows().copy()
        return copy

    def snapshot(self) -> Records:
        """A private numpy copy of the rows, taken under the lock (one consistent moment)."""
        return self._locked_copy()

    def models(self) -> list[Any]:
        """The rows as frozen pydantic models (see ``shmstruct.snapshot_model``), copied under the lock.

        One Python object per row and field: meant for small tables, reports and JSON.
        """
        compiled = schema_of(self._schema)
        return [compiled.record_to_model(record) for record in self.snapshot()]

    @property
    def name(self) -> str:
        """The name of the shared segment holding the rows (what ``attach`` takes)."""
        return self._block.name

    @classmethod
    def attach(cls, name: str, schema: type[S]) -> Table[S]:
        """A live view of the table of ``schema`` rows in segment ``name``, from any process.

        Raises:
            SharedMemoryGoneError: No segment of that name exists (any more).
            SchemaMismatchError: The segment holds another schema, or another version of this one.
            SegmentError: The segment is not a shmstruct table (a struct or a log, say).
        """
        block = SharedBlock.attach(name, schema, "table")
        return Table(schema, block, block.data_offset, block.rows)

    def close(self) -> None:
        """Stop using the table in this process (see the lifecycle in the README). Idempotent."""
        self._block.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __reduce__(self) -> tuple[Any, ...]:
        return reference_to(self._block, What.TABLE, self._schema, self._offset, len(self._storage))

    def __repr__(self) -> str:
        return f"<Table[{self._schema.__name__}] of {len(self)} rows in {self._block.name!r}>"


def _rebuild_rows(block: SharedBlock, reference: Reference) -> Table[Any]:
    return Table(reference.cls, block, reference.offset, reference.rows)


register_builder(What.TABLE, _rebuild_rows)


def create_table(schema: type[S], rows: int, options: dict[str, Any]) -> Table[S]:
    """Allocate a table of ``rows`` records, each starting with the schema's defaults."""
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
        raise ValueError(f"{schema.__name__}.table() needs a whole number of rows >= 0, got {rows!r}")
    default_image = schema_of(schema).default_image
    pattern = default_image if any(default_image) else b""  # a fresh block is already all zeros
    block = SharedBlock.create(schema, "table", rows * len(default_image), rows, pattern=pattern, **options)
    return Table(schema, block, block.data_offset, rows)


# --------------------------------------------------------------------------- logs


class Log(Table[S]):
    """A bounded append-only table: ``append(**fields)`` adds a checked row under the lock.

    ``len(log)``, ``records``, ``column()``, iteration and indexing cover the appended rows only.
    Every append notifies the log's lock, so a consumer can sleep until new rows arrive:
    ``with log.lock: log.lock.wait_for(lambda: len(log) > seen)``.
    A full log raises ``LogFullError``, unless it was created with ``ring=True``:
    then each append past ``capacity`` overwrites the oldest row, ``records`` holds the rows in
    slot order (slot = number of earlier appends modulo ``capacity``) and ``snapshot()`` returns
    them oldest first.
    """

    __slots__ = ("_appended", "_capacity", "_default_image", "_prepare", "_ring")

    def __init__(self, schema: type[S], block: SharedBlock) -> None:
        super().__init__(schema, block, block.data_offset, block.rows)
        self._appended = ctypes.c_int64.from_buffer(block.mmap, APPENDED)
        self._capacity = block.rows
        self._ring = bool(read_field(block.mmap, FLAGS) & RING)
        compiled = schema_of(schema)
        self._default_image = compiled.default_image
        self._prepare = compiled.prepare

    @property
    def capacity(self) -> int:
        """The most rows the log holds."""
        return self._capacity

    @property
    def ring(self) -> bool:
        """Whether appends past ``capacity`` overwrite the oldest rows (chosen at creation)."""
        return self._ring

    @property
    def appended(self) -> int:
        """How many appends have finished since creation (for a ring, more than ``capacity``)."""
        with self._block.lock:
            return self._appended.value

    def _rows(self) -> Records:
        # Reading the count under the lock orders it after the row writes of every finished append.
        with self._block.lock:
            appended = self._appended.value
        return self._storage[: min(appended, self._capacity)]

    def append(self, *args: Any, **kwargs: Any) -> int:
        """Add one row: the schema's defaults updated with the given fields, checked first.

        Returns:
            The new row's index in ``records`` (its slot, for a ring).

        Raises:
            FieldTypeError: An unknown or missing field, or a value of the wrong type.
            FieldValueError: A value out of range or against a constraint.
            LogFullError: The log holds ``capacity`` rows and is not a ring.

        A rejected append adds no row.
        """
        if args:
            raise TypeError(f"{self._schema.__name__} log rows are given by keyword: append(field=value, ...)")
        writes = self._prepare(kwargs, False)
        itemsize = self._itemsize
        with self._block.lock:
            appended = self._appended.value
            if appended >= self._capacity and not self._ring:
                raise LogFullError(
                    f"{self._schema.__name__} log is full: it holds its capacity of {self._capacity} "
                    f"{'row' if self._capacity == 1 else 'rows'}. "
                    f"Create it with a larger capacity, or with ring=True to overwrite the oldest rows."
                )
            slot = appended % self._capacity
            offset = self._offset + slot * itemsize
            self._block.mmap[offset : offset + itemsize] = self._default_image  # a C-level copy, unlike ctypes.memmove
            row = from_address(self._schema, self._block.address + offset)
            for store, prepared in writes:
                store(row, prepared)
            self._appended.value = appended + 1
            self._block.lock.notify_all()  # consumers waiting in lock.wait_for(...); free when none wait
        return slot

    def snapshot(self) -> Records:
        """A private numpy copy of the held rows, oldest first, taken under the lock."""
        with self._block.lock:
            appended = self._appended.value
            copy = self._locked_copy()
        if self._ring and appended > self._capacity:
            import numpy as np

            copy = np.roll(copy, -(appended % self._capacity))
        return copy

    @classmethod
    def attach(cls, name: str, schema: type[S]) -> Log[S]:
        """A live view of the log of ``schema`` rows in segment ``name``, from any process.

        Raises:
            SharedMemoryGoneError: No segment of that name exists (any more).
            SchemaMismatchError: The segment holds another schema, or another version of this one.
            SegmentError: The segment is not a shmstruct log.
        """
        return Log(schema, SharedBlock.attach(name, schema, "log"))

    def __reduce__(self) -> tuple[Any, ...]:
        return reference_to(self._block, What.LOG, self._schema)

    def __repr__(self) -> str:
        ring = ", ring" if self._ring else ""
        return f"<Log[{self._schema.__name__}] of {len(self)}/{self._capacity} rows{ring} in {self._block.name!r}>"


def _rebuild_log(block: SharedBlock, reference: Reference) -> Log[Any]:
    return Log(reference.cls, block)


register_builder(What.LOG, _rebuild_log)


def create_log(schema: type[S], capacity: int, ring: bool, options: dict[str, Any]) -> Log[S]:
    """Allocate an empty log with room for ``capacity`` rows of ``schema``."""
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise ValueError(f"{schema.__name__}.log() needs a capacity of at least 1 row, got {capacity!r}")
    itemsize = schema_of(schema).size
    return Log(schema, SharedBlock.create(schema, "log", capacity * itemsize, capacity, ring=ring, **options))


# Their public path, as for every public class (see shmstruct/__init__.py), also when this module is
# loaded by shmstruct.table() or shmstruct.log() before anyone reads shmstruct.Table.
Table.__module__ = Log.__module__ = "shmstruct"
