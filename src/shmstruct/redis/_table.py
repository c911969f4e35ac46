"""A table of records stored in Redis: one string key per column, holding the column's values as
the bytes of the field's C type, row after row (what ``table.column(name)`` would be in shared
memory), so that a whole column travels in one round trip and a row is a slice of each column.

Reading one row's field is one ``GETRANGE``; writing a row (``t[i].x = 1``,
``shmstruct.update(t[i], ...)``) is one server-side script that checks the table's fingerprint
and the writer's fencing token, then writes each column's slice; a snapshot of the whole table is
one script that reads every column at once.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from .._errors import FieldTypeError, SegmentError, short_repr
from .._kinds import Field
from .._schema import Schema
from . import _scripts
from ._store import Records
from ._struct import scratch_of

if TYPE_CHECKING:
    from ._store import Keys, Target

__all__ = ["RemoteRow", "RemoteTable"]

S = TypeVar("S")


def column_key(keys: Keys, field: Field) -> str:
    """The key of one column of the table at ``keys``."""
    return f"{keys.data}:col:{field.name}"


class RemoteTable(Records[S]):
    """A table of ``rows`` records of ``S`` in Redis (see :meth:`Store.create_table`).

    ``t[i]`` is a proxy of row ``i`` (read and write its fields as a struct's);
    ``column(name)`` is a column as a numpy array (one round trip), ``write_column(name,
    values)`` writes one; ``snapshot()`` is every row as numpy records, read at one moment.
    """

    def __init__(self, target: Target, rows: int) -> None:
        super().__init__(target)
        self._rows = rows
        schema = target.schema
        self._columns = {f.name: column_key(target.keys, f) for f in schema.fields}
        self._position = {name: number for number, name in enumerate(self._columns)}  # in field order
        self._write_keys = (target.keys.meta, target.keys.lock, *self._columns.values())

    def __repr__(self) -> str:
        return f"<table of {self._rows:,} {self._target.schema.name} rows at Redis key {self._target.keys.key!r}>"

    def __len__(self) -> int:
        return self._rows

    def __getitem__(self, index: int) -> S:
        if type(index) is not int:
            raise TypeError(f"a row of a Redis table is indexed by an int, got {short_repr(index)}")
        if not -self._rows <= index < self._rows:
            raise IndexError(f"row {index} of a table of {self._rows:,} rows")
        row: S = _row_class(self._target.schema)(self, index % self._rows)  # type: ignore[assignment]
        return row

    def __iter__(self) -> Iterator[S]:
        for index in range(self._rows):
            yield self[index]

    def column(self, name: str) -> Any:
        """Column ``name`` of every row as a private, read-only numpy array (one round trip)."""
        import numpy as np

        field = self._field(name)
        target = self._target
        raw = target.store.run(
            target.script(_scripts.read_columns), target.keys, (target.keys.meta, self._columns[name]), []
        )
        data = raw[0]
        if len(data) != self._rows * field.size:
            raise SegmentError(f"column {name!r} of the table at Redis key {target.keys.key!r} is damaged")
        values = np.frombuffer(data, dtype=field.dtype.base).reshape((self._rows, *field.dtype.shape))
        return values

    def write_column(self, name: str, values: Any) -> None:
        """Write column ``name`` of every row: ``values`` has one value per row (each checked as a
        write of that field; nothing is sent if one is refused)."""
        field = self._field(name)
        values = list(values)
        if len(values) != self._rows:
            raise FieldTypeError(f"{field.qualname}: expected {self._rows:,} values (one per row), got {len(values):,}")
        schema = self._target.schema
        op = schema.ops[name]
        scratch = scratch_of(schema)
        parts = []
        for value in values:
            op.store(scratch, op.prepare(value))
            parts.append(_cell(scratch, field))
        self._write([(name, 0, b"".join(parts))])

    def snapshot(self) -> Any:
        """Every row as a private numpy array of the schema's records, read at one moment."""
        import numpy as np

        target = self._target
        names = list(self._columns)
        raw = target.store.run(
            target.script(_scripts.read_columns), target.keys, (target.keys.meta, *self._columns.values()), []
        )
        schema = target.schema
        records = np.zeros(self._rows, dtype=schema.dtype)
        for name, data in zip(names, raw, strict=True):
            field = schema.ops[name].field
            if len(data) != self._rows * field.size:
                raise SegmentError(f"column {name!r} of the table at Redis key {target.keys.key!r} is damaged")
            records[name] = np.frombuffer(data, dtype=field.dtype.base).reshape(records[name].shape)
        return records

    def models(self) -> list[Any]:
        """Every row as a snapshot model."""
        schema = self._target.schema
        return [schema.record_to_model(record) for record in self.snapshot()]

    def _field(self, name: str) -> Field:
        op = self._target.schema.ops.get(name)
        if op is None:
            raise FieldTypeError(
                f"{self._target.schema.name} has no field {name!r}; its fields are: {', '.join(self._columns)}"
            )
        return op.field

    def _write(self, slices: list[tuple[str, int, bytes]]) -> None:
        """Write byte slices (column name, byte offset, bytes), all or none, fenced."""
        target = self._target
        args: list[Any] = [target.store.token_of(target.keys)]
        for name, offset, data in slices:
            args += (self._position[name] + 3, offset, data)  # the column's index in KEYS
        target.store.run(target.script(_scripts.write_ranges), target.keys, self._write_keys, args)

    def _read_row(self, index: int, fields: list[Field]) -> dict[str, bytes]:
        target = self._target
        args: list[Any] = []
        for f in fields:
            args += (self._position[f.name] + 2, index * f.size, (index + 1) * f.size - 1)
        raw = target.store.run(
            target.script(_scripts.read_ranges), target.keys, (target.keys.meta, *self._columns.values()), args
        )
        return {f.name: data for f, data in zip(fields, raw, strict=True)}


class RemoteRow:
    """A proxy of one row of a Redis table: its fields read and write like a struct's."""

    __slots__ = ("_index", "_table")
    __shm_schema_of_proxy__: Schema
    _table: RemoteTable[Any]
    _index: int

    def __init__(self, table: RemoteTable[Any], index: int) -> None:
        object.__setattr__(self, "_table", table)
        object.__setattr__(self, "_index", index)

    def __repr__(self) -> str:
        return f"<row {self._index} of {self._table!r}>"

    def __setattr__(self, name: str, value: Any) -> None:
        attribute = type(self).__dict__.get(name)
        if isinstance(attribute, _Cell):
            attribute.__set__(self, value)
            return
        schema = self.__shm_schema_of_proxy__
        raise FieldTypeError(f"{schema.name} has no field {name!r}; its fields are: {', '.join(schema.ops)}")

    def __reduce__(self) -> Any:
        raise TypeError("a Redis table row is not pickled: pass the key and the index, and attach in the other process")

    def __shm_snapshot__(self) -> Any:
        schema = self.__shm_schema_of_proxy__
        return schema.record_to_model(self._record(list(schema.fields)))

    def __shm_update__(self, values: Mapping[str, Any]) -> None:
        schema = self.__shm_schema_of_proxy__
        writes = schema.prepare(values, partial=True)
        scratch = scratch_of(schema)
        slices = []
        for name, (store, prepared) in zip(values, writes, strict=True):
            store(scratch, prepared)
            field = schema.ops[name].field
            slices.append((name, self._index * field.size, _cell(scratch, field)))
        self._table._write(slices)

    def __shm_close__(self) -> None:
        """Nothing to release: the connections belong to the store."""

    def __shm_name__(self) -> str:
        return self._table._target.keys.key

    def _record(self, fields: list[Field]) -> Any:
        """A one-row record holding ``fields`` of this row (the others zero)."""
        import numpy as np

        schema = self.__shm_schema_of_proxy__
        cells = self._table._read_row(self._index, fields)
        image = bytearray(schema.size)
        for f in fields:
            data = cells[f.name]
            if len(data) != f.size:
                raise SegmentError(f"row {self._index} of {self._table!r} is damaged (field {f.name!r})")
            image[f.offset : f.offset + f.size] = data
        return np.frombuffer(bytes(image), dtype=schema.dtype)[0]


class _Cell:
    """The attribute of one field of a table row."""

    __slots__ = ("entry", "field", "name")

    def __init__(self, field: Field) -> None:
        self.field = field
        self.name = field.name
        self.entry = field.describe()

    def __get__(self, obj: RemoteRow | None, owner: Any = None) -> Any:
        if obj is None:
            return self
        kind = type(self.field)
        value = kind.decode(kind.item(obj._record([self.field]), self.entry), self.entry, False)
        return self.field.model_value(value) if self.field.schema is not None else value

    def __set__(self, obj: RemoteRow, value: Any) -> None:
        obj.__shm_update__({self.name: value})


_row_classes: dict[Schema, type[RemoteRow]] = {}


def _row_class(schema: Schema) -> type[RemoteRow]:
    found = _row_classes.get(schema)
    if found is None:
        namespace: dict[str, Any] = {"__slots__": (), "__shm_schema_of_proxy__": schema, "__module__": __name__}
        for field in schema.fields:
            namespace[field.name] = _Cell(field)
        found = _row_classes.setdefault(schema, type(f"Remote{schema.name}Row", (RemoteRow,), namespace))
    return found


def _cell(scratch: Any, field: Field) -> bytes:
    """The C bytes of ``field`` in the private struct ``scratch``."""
    return ctypes.string_at(ctypes.addressof(scratch) + field.offset, field.size)


def column_images(schema: Schema, rows: int) -> list[bytes]:
    """The columns of a fresh table: each field's default, ``rows`` times."""
    image = schema.default_image
    return [image[f.offset : f.offset + f.size] * rows for f in schema.fields]
