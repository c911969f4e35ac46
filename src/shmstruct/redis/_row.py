"""The proxy of one row of a Redis table (``table[i]``), and of a struct nested in one
(``table[i].origin``): each field is a slice of a column, at the row's byte offset in it.

A read of a field is one ``GETRANGE`` (in a script that checks the table's fingerprint); a write
(``t[i].x = 1``, ``shmstruct.update(t[i], ...)``) is checked in a private struct of the schema,
then sent as the C bytes of each field, written by one fenced script; an ``Atomic`` field is a
:class:`RemoteAtomic` whose operations are scripts over the cell's bytes.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._errors import FieldValueError, SegmentError
from .._kinds import Field
from .._schema import Schema, schema_of
from . import _scripts
from ._struct import FieldAttribute, Proxy, RemoteAtomic, make_proxy_class, scratch_of

if TYPE_CHECKING:
    from ._table import RemoteTable

__all__ = ["RemoteRow", "row_class"]


class RemoteRow(Proxy):
    """A proxy of one row of a Redis table, or of a struct nested in one: its fields read and
    write like a struct's."""

    __slots__ = ("_column", "_index", "_start", "_table")
    __shm_schema_of_proxy__: Schema
    _table: RemoteTable[Any]
    _index: int
    _column: str | None  # a nested struct's column; None for a row
    _start: int  # a nested struct's first byte in that column

    def __init__(self, table: RemoteTable[Any], index: int, column: str | None = None, start: int = 0) -> None:
        object.__setattr__(self, "_table", table)
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_column", column)
        object.__setattr__(self, "_start", start)

    def __repr__(self) -> str:
        where = f"row {self._index:,} of {self._table!r}"
        if self._column is not None:
            where = f"{self.__shm_schema_of_proxy__.name} in column {self._column!r} of {where}"
        return f"<{where}>"

    def __reduce__(self) -> Any:
        raise TypeError("a Redis table row is not pickled: pass the key and the index, and attach in the other process")

    @property
    def lock(self) -> Any:
        """The table's lock (see ``RemoteTable.lock``)."""
        return self._table.lock

    def _span(self, field: Field) -> tuple[str, int]:
        """The column holding ``field`` of this row, and the field's first byte in it."""
        if self._column is None:
            return field.name, self._index * field.size
        return self._column, self._start + field.offset

    # The module-level functions (shmstruct.snapshot, update, close, segment_name) call these.

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
            slices.append((*self._span(field), cell_bytes(scratch, field)))
        self._table._write_spans(slices)

    def __shm_name__(self) -> str:
        return self._table._target.keys.key

    def _record(self, fields: list[Field]) -> Any:
        """A one-row record of the schema holding ``fields`` of this row (the others zero)."""
        import numpy as np

        schema = self.__shm_schema_of_proxy__
        cells = self._table._read_spans([(*self._span(f), f.size) for f in fields])
        image = bytearray(schema.size)
        for f, data in zip(fields, cells, strict=True):
            image[f.offset : f.offset + f.size] = data
        return np.frombuffer(bytes(image), dtype=schema.dtype)[0]


class _Cell(FieldAttribute):
    """The attribute of one field of a table row."""

    __slots__ = ("entry", "field", "name")

    def __init__(self, field: Field) -> None:
        self.field = field
        self.name = field.name
        self.entry = field.describe()

    def __get__(self, obj: RemoteRow | None, owner: Any = None) -> Any:
        if obj is None:
            return self
        field = self.field
        if field.schema is not None:  # a proxy of the nested struct, over the same column
            column, start = obj._span(field)
            return row_class(schema_of(field.schema))(obj._table, obj._index, column, start)
        if field.atomic:
            return _CellAtomic(obj, field)
        kind = type(field)
        return kind.decode(kind.item(obj._record([field]), self.entry), self.entry, False)

    def __set__(self, obj: RemoteRow, value: Any) -> None:
        obj.__shm_update__({self.name: value})


class _CellAtomic(RemoteAtomic):
    """An atomic field of a table row: operations are scripts over the cell's C bytes."""

    __slots__ = ("_row",)

    def __init__(self, row: RemoteRow, field: Field) -> None:
        super().__init__(row._table._target, field)
        self._row = row

    @property
    def _channel(self) -> str:
        return f"{self._target.keys.meta}:changed"

    def load(self) -> int:
        return self._decode(self._read())

    def store(self, value: int, /) -> None:
        self._row.__shm_update__({self._field.name: value})

    def exchange(self, value: int, /) -> int:
        return self._decode(self._run(_scripts.cell_exchange, self._encode(value)))

    def compare_exchange(self, expected: int, new: int, /) -> bool:
        data = self._encode(new)
        wanted = self._expected(expected)
        row = self._field.row
        assert isinstance(row.low, int) and isinstance(row.high, int)
        if not row.low <= wanted <= row.high:  # the cell cannot hold it: no exchange
            self.load()  # still refuses a deleted table
            return False
        expected_bytes = wanted.to_bytes(self._field.size, sys.byteorder, signed=row.low < 0)
        return self._decode(self._run(_scripts.cell_compare_exchange, expected_bytes, data)) == wanted

    def _added(self, delta: int) -> int:
        size = self._field.size
        bits = delta % 2 ** (8 * size)  # two's complement, what the script adds in 32-bit words
        signed = self._field.row.low != 0
        return self._decode(
            self._run(
                _scripts.cell_add,
                b"1" if signed else b"0",
                str(bits & 0xFFFFFFFF).encode(),
                str(bits >> 32).encode(),
                b"1" if delta < 0 else b"0",
                sys.byteorder.encode(),
            )
        )

    def _read(self) -> bytes:
        column, offset = self._row._span(self._field)
        data: bytes = self._row._table._read_spans([(column, offset, self._field.size)])[0]
        return data

    def _encode(self, value: Any) -> bytes:
        """``value``'s C bytes, after the field's checks."""
        schema = self._row.__shm_schema_of_proxy__
        op = schema.ops[self._field.name]
        scratch = scratch_of(schema)
        op.store(scratch, op.prepare(value))
        return cell_bytes(scratch, self._field)

    def _decode(self, data: bytes) -> int:
        if len(data) != self._field.size:
            raise SegmentError(f"{self._row!r} is damaged (field {self._field.name!r})")
        return int.from_bytes(data, sys.byteorder, signed=self._field.row.low != 0)

    def _run(self, make: Any, *args: bytes) -> bytes:
        table = self._row._table
        target = table._target
        column, offset = self._row._span(self._field)
        token = target.store.token_of(target.keys)
        keys = (target.keys.meta, target.keys.lock, table._column_key(column))
        try:
            data: bytes = target.store.run(
                target.script(make), target.keys, keys, [token, offset, self._field.size, *args]
            )
        except FieldValueError:
            raise FieldValueError("") from None  # the range: RemoteAtomic._add words it
        return data


_row_classes: dict[Schema, type[RemoteRow]] = {}


def row_class(schema: Schema) -> type[RemoteRow]:
    """The class of the row proxies of ``schema`` (made once), with the schema's own methods and
    properties (see ``user_attributes``)."""
    found = _row_classes.get(schema)
    if found is None:
        cells = {field.name: _Cell(field) for field in schema.fields}
        made = make_proxy_class(schema, RemoteRow, f"Remote{schema.name}Row", cells)
        found = _row_classes.setdefault(schema, made)
    return found


def cell_bytes(scratch: Any, field: Field) -> bytes:
    """The C bytes of ``field`` in the private struct ``scratch``."""
    return ctypes.string_at(ctypes.addressof(scratch) + field.offset, field.size)
