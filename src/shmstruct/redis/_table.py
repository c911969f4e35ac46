"""A table of records stored in Redis: one string key per column, holding the column's values as
the bytes of the field's C type, row after row (what ``table.column(name)`` would be in shared
memory), so that a whole column travels in one round trip and a row is a slice of each column.

Reading one row's field is one ``GETRANGE``; writing a row (``t[i].x = 1``,
``shmstruct.update(t[i], ...)``) is one server-side script that checks the table's fingerprint
and the writer's fencing token, then writes each column's slice; a snapshot of the whole table is
one script that reads every column at once. ``t[a:b]`` is a view of rows ``a`` to ``b``, as in
shared memory. The row proxies are in :mod:`._row`.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeVar, overload

from .._errors import FieldTypeError, SegmentError, short_repr
from .._kinds import Field
from . import _scripts
from ._row import cell_bytes, row_class
from ._struct import scratch_of
from ._target import Records

if TYPE_CHECKING:
    from .._schema import Schema
    from ._target import Keys, Target

__all__ = ["RemoteTable", "column_images", "column_key"]

S = TypeVar("S")


def column_key(keys: Keys, name: str) -> str:
    """The key of column ``name`` of the table at ``keys``."""
    return f"{keys.data}:col:{name}"


class RemoteTable(Records[S]):
    """A table of records of ``S`` in Redis (see ``Store.create_table``), or a view of some of
    its rows (``table[a:b]``).

    ``t[i]`` is a proxy of row ``i`` (read and write its fields as a struct's);
    ``column(name)`` is a column as a numpy array (one round trip), ``write_column(name,
    values)`` writes one; ``snapshot()`` is every row as numpy records, read at one moment.
    """

    def __init__(self, target: Target, rows: int, first: int = 0) -> None:
        super().__init__(target)
        self._rows = rows  # of this view
        self._first = first  # the view's first row in the table
        schema = target.schema
        self._columns = {f.name: column_key(target.keys, f.name) for f in schema.fields}
        self._position = {name: number for number, name in enumerate(self._columns)}  # in field order
        self._write_keys = (target.keys.meta, target.keys.lock, *self._columns.values())
        self._read_keys = (target.keys.meta, *self._columns.values())

    def __repr__(self) -> str:
        where = f"Redis key {self._target.keys.key!r}"
        if self._first or str(self._rows) != dict(self._target.identity.settings)["rows"]:
            where = f"rows {self._first:,} to {self._first + self._rows:,} (excluded) of the table at {where}"
        rows = "1 row" if self._rows == 1 else f"{self._rows:,} rows"
        return f"<table of {rows} of {self._target.schema.name} at {where}>"

    def __len__(self) -> int:
        return self._rows

    @overload
    def __getitem__(self, index: int) -> S: ...
    @overload
    def __getitem__(self, index: slice) -> RemoteTable[S]: ...
    def __getitem__(self, index: int | slice) -> S | RemoteTable[S]:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._rows)
            if step != 1:
                raise ValueError("a table view takes contiguous rows: use a step of 1, or snapshot()[::step]")
            return RemoteTable(self._target, max(0, stop - start), self._first + start)
        try:
            index = operator.index(index)  # ints and numpy integers
        except TypeError:
            raise TypeError(f"Redis table indexes are ints or slices, not {short_repr(index)}") from None
        position = index + self._rows if index < 0 else index
        if not 0 <= position < self._rows:
            raise IndexError(f"row {index} is out of range for a table of {self._rows:,} rows")
        row: S = row_class(self._target.schema)(self, self._first + position)  # type: ignore[assignment]
        return row

    def __iter__(self) -> Iterator[S]:
        for index in range(self._rows):
            yield self[index]

    def column(self, name: str) -> Any:
        """Column ``name`` of every row as a private, read-only numpy array (one round trip)."""
        import numpy as np

        field = self._field(name)
        data = self._read_columns([field])[0]
        return np.frombuffer(data, dtype=field.dtype.base).reshape((self._rows, *field.dtype.shape))

    def write_column(self, name: str, values: Any) -> None:
        """Write column ``name`` of every row: ``values`` has one value per row (each checked as a
        write of that field; nothing is sent if one is refused)."""
        field = self._field(name)
        values = list(values)
        if len(values) != self._rows:
            raise FieldTypeError(f"{field.qualname}: expected {self._rows:,} values (one per row), got {len(values):,}")
        if not values:
            self._read_spans([])  # still refuses a deleted or replaced table
            return
        schema = self._target.schema
        op = schema.ops[name]
        scratch = scratch_of(schema)
        parts = []
        for value in values:
            op.store(scratch, op.prepare(value))
            parts.append(cell_bytes(scratch, field))
        self._write_spans([(name, self._first * field.size, b"".join(parts))])

    def snapshot(self) -> Any:
        """Every row as a private numpy array of the schema's records, read at one moment."""
        import numpy as np

        schema = self._target.schema
        records = np.zeros(self._rows, dtype=schema.dtype)
        for field, data in zip(schema.fields, self._read_columns(list(schema.fields)), strict=True):
            records[field.name] = np.frombuffer(data, dtype=field.dtype.base).reshape(records[field.name].shape)
        return records

    def models(self) -> list[Any]:
        """Every row as a snapshot model."""
        schema = self._target.schema
        return [schema.record_to_model(record) for record in self.snapshot()]

    def _column_key(self, name: str) -> str:
        """The Redis key of column ``name`` (a field's name)."""
        return self._columns[name]

    def _field(self, name: str) -> Field:
        op = self._target.schema.ops.get(name)
        if op is None:
            raise FieldTypeError(
                f"{self._target.schema.name} has no field {name!r}; its fields are: {', '.join(self._columns)}"
            )
        return op.field

    def _read_columns(self, fields: list[Field]) -> list[bytes]:
        """The view's part of the columns of ``fields``, read together (one script)."""
        if not self._rows:
            self._read_spans([])  # still refuses a deleted or replaced table
            return [b"" for _ in fields]
        return self._read_spans([(f.name, self._first * f.size, self._rows * f.size) for f in fields])

    def _read_spans(self, spans: list[tuple[str, int, int]]) -> list[bytes]:
        """Byte spans (column name, first byte, length > 0) read together, after the fingerprint check.

        Raises:
            SegmentError: A column is shorter than the table's rows say.
        """
        target = self._target
        args: list[Any] = []
        for name, offset, size in spans:
            args += (self._position[name] + 2, offset, offset + size - 1)  # the column's index in KEYS
        found: list[bytes] = target.store.run(target.script(_scripts.read_ranges), target.keys, self._read_keys, args)
        for (name, _, size), data in zip(spans, found, strict=True):
            if len(data) != size:
                raise SegmentError(f"column {name!r} of the table at Redis key {target.keys.key!r} is damaged")
        return found

    def _write_spans(self, spans: list[tuple[str, int, bytes]]) -> None:
        """Write byte spans (column name, first byte, bytes), all or none, fenced."""
        target = self._target
        args: list[Any] = [target.store.token_of(target.keys)]
        for name, offset, data in spans:
            args += (self._position[name] + 3, offset, data)  # the column's index in KEYS
        target.store.run(target.script(_scripts.write_ranges), target.keys, self._write_keys, args)


def column_images(schema: Schema, rows: int) -> list[bytes]:
    """The columns of a fresh table: each field's default, ``rows`` times."""
    image = schema.default_image
    return [image[f.offset : f.offset + f.size] * rows for f in schema.fields]
