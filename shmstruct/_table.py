"""Tables: many records of one schema in one shared block, with one lock.

Work in progress on issue 3: fixed-size tables with row proxies, a zero-copy structured
``records`` view, ``column(name)`` views, row-range views and snapshots. Logs come next.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Generic, TypeVar, overload

import numpy as np

from ._lock import SharedLock
from ._memory import SharedBlock
from ._struct import bind_proxy

__all__ = ["Table", "create_table"]

S = TypeVar("S")


class Table(Generic[S]):
    """A fixed number of records of one schema, in one shared block, guarded by one lock.

    ``table[i]`` is a live, checked proxy of row ``i`` (negative indexes count from the end);
    ``table[a:b]`` is a table view of those rows (no copy); ``records`` and ``column(name)`` are
    zero-copy numpy views. Writes through ``records`` are not checked.
    """

    __slots__ = ("_schema", "_block", "_start", "_length", "_records")

    def __init__(self, schema: type[S], block: SharedBlock, start: int, length: int) -> None:
        self._schema = schema
        self._block = block
        self._start = start
        self._length = length
        itemsize = schema.dtype.itemsize  # type: ignore[attr-defined]
        self._records: np.ndarray[Any, Any] = np.ndarray(
            (length,), dtype=schema.dtype, buffer=block.mmap, offset=start * itemsize  # type: ignore[attr-defined]
        )

    @property
    def schema(self) -> type[S]:
        """The schema class of the rows."""
        return self._schema

    @property
    def lock(self) -> SharedLock:
        """The one lock of the whole table (and of every row proxy)."""
        return self._block.lock

    @property
    def records(self) -> np.ndarray[Any, Any]:
        """A zero-copy numpy structured view of the rows (``dtype == schema.dtype``)."""
        return self._records

    def column(self, name: str) -> np.ndarray[Any, Any]:
        """A zero-copy view of one field: shape ``(n,)`` for scalars, ``(n, *shape)`` for arrays.

        Raises:
            KeyError: No such field; the message lists the fields.
        """
        names = self._records.dtype.names or ()
        if name not in names:
            raise KeyError(f"{self._schema.__name__} has no field {name!r}; fields: {', '.join(names)}")
        column: np.ndarray[Any, Any] = self._records[name]
        return column

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> S: ...
    @overload
    def __getitem__(self, index: slice) -> Table[S]: ...
    def __getitem__(self, index: int | slice) -> S | Table[S]:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._length)
            if step != 1:
                raise ValueError("a table view takes contiguous rows: use a step of 1, or .records[::step] for a numpy view")
            return Table(self._schema, self._block, self._start + start, max(0, stop - start))
        position = index + self._length if index < 0 else index
        if not 0 <= position < self._length:
            raise IndexError(f"row {index} is out of range for a table of {self._length} rows")
        row: S = bind_proxy(self._schema, self._block, (self._start + position) * self._records.dtype.itemsize)
        return row

    def __iter__(self) -> Iterator[S]:
        for i in range(self._length):
            yield self[i]

    def snapshot(self) -> np.ndarray[Any, Any]:
        """A private copy of the records, taken under the lock."""
        with self._block.lock:
            copy: np.ndarray[Any, Any] = self._records.copy()
        return copy

    def __reduce__(self) -> tuple[Any, ...]:
        return (_attach_table, (self._schema, self._block.name, self._start, self._length))

    def __repr__(self) -> str:
        return f"<Table[{self._schema.__name__}] of {self._length} rows in {self._block.name}>"


def _attach_table(schema: type[Any], name: str, start: int, length: int) -> Table[Any]:
    return Table(schema, SharedBlock.attach(name), start, length)


def create_table(schema: type[S], rows: int, default_image: bytes) -> Table[S]:
    """Allocate a table of ``rows`` records, each starting with the schema's defaults."""
    if rows < 0:
        raise ValueError(f"a table needs 0 or more rows, not {rows}")
    itemsize = len(default_image)
    block = SharedBlock.create(rows * itemsize)
    table = Table(schema, block, 0, rows)
    if any(default_image) and rows:
        table.records[:] = np.frombuffer(default_image, dtype=table.records.dtype)[0]
    return table
