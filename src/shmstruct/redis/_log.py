"""A log of records stored in Redis: a stream whose entries are rows, each the bytes of one record
of the schema (its C layout, as ``shmstruct.layout(Schema)`` shows it), so that a snapshot is the
schema's numpy records with no per-field decoding.

``append`` is one server-side script: it checks the log's fingerprint and its capacity (a log that
is not a ring refuses the append past it, on the server) and adds the row; a ring trims to its
capacity in the same step. A reader waits for new rows on the server (``XREAD BLOCK``), never polls.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, TypeVar

from .._errors import LogFullError, SegmentError
from .._schema import Schema
from . import _scripts
from ._target import Records

if TYPE_CHECKING:
    from ._target import Target

__all__ = ["RemoteLog"]

S = TypeVar("S")


class RemoteLog(Records[S]):
    """A bounded append-only log of ``S`` records in Redis (see ``Store.create_log``).

    ``len(log)`` is the number of rows held, ``appended`` the number of appends ever made;
    ``snapshot()`` is the held rows, oldest first, as numpy records; ``wait(seen)`` sleeps on the
    server until more than ``seen`` appends were made.
    """

    def __init__(self, target: Target, capacity: int, ring: bool) -> None:
        super().__init__(target)
        self._capacity = capacity
        self._ring = ring

    def __repr__(self) -> str:
        kind = "ring " if self._ring else ""
        return (
            f"<{kind}log of {self._target.schema.name} at Redis key {self._target.keys.key!r}, "
            f"capacity {self._capacity:,}>"
        )

    @property
    def capacity(self) -> int:
        """The most rows the log holds."""
        return self._capacity

    @property
    def ring(self) -> bool:
        """Whether appends past ``capacity`` drop the oldest rows (chosen at creation)."""
        return self._ring

    @property
    def appended(self) -> int:
        """How many appends have been made since creation (for a ring, more than ``capacity``)."""
        return self._state()[0]

    def __len__(self) -> int:
        return min(self.appended, self._capacity)

    def append(self, **values: Any) -> int:
        """Add one row: the schema's defaults updated with ``values``, checked before anything is sent.

        Returns:
            The number of appends made before this one (the row's index; its slot modulo
            ``capacity`` for a ring).

        Raises:
            FieldTypeError: An unknown or missing field, or a value of the wrong type.
            FieldValueError: A value out of range or against a constraint.
            LogFullError: The log holds ``capacity`` rows and is not a ring (no row was added).
        """
        row = self._target.schema.image(values)
        target = self._target
        keys = target.keys
        args = [target.store.token_of(keys), row]
        index: int = target.store.run(target.script(_scripts.append), keys, (keys.data, keys.meta, keys.lock), args)
        if index < 0:
            raise LogFullError(
                f"{target.schema.name} log at Redis key {keys.key!r} is full: it holds its capacity of "
                f"{self._capacity:,} {'row' if self._capacity == 1 else 'rows'}. Create it with a larger "
                "capacity, or with ring=True to drop the oldest rows."
            )
        return index

    def snapshot(self) -> Any:
        """The held rows, oldest first, as a private numpy array of the schema's records (one command)."""
        import numpy as np

        target = self._target
        keys = target.keys
        rows = target.store.run(target.script(_scripts.log_rows), keys, (keys.data, keys.meta), [])
        return _records(target.schema, rows, np)

    def models(self) -> list[Any]:
        """The held rows as snapshot models, oldest first."""
        schema = self._target.schema
        return [schema.record_to_model(record) for record in self.snapshot()]

    def wait(self, seen: int, timeout: float | None = None) -> bool:
        """Sleep until more than ``seen`` appends have been made (``True``), or ``timeout`` seconds
        pass (``False``). The sleep is on the server (``XREAD BLOCK``): no polling.

        Raises:
            SharedMemoryGoneError: The log was deleted.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        target = self._target
        while True:
            appended, last_id = self._state()
            if appended > seen:
                return True
            # Wake at least every few seconds to look again (a deleted log sends no entry).
            left = 5.0 if deadline is None else deadline - time.monotonic()
            if left <= 0:
                return False
            cap = target.store.block_slice
            block = max(1, round(min(left, 5.0, cap if cap is not None else 5.0) * 1000))
            with target.store.errors(target.keys):
                target.store.client.xread({target.keys.data: last_id}, count=1, block=block)

    def _state(self) -> tuple[int, bytes]:
        """The number of appends and the stream's last entry id, read together (one script)."""
        target = self._target
        keys = target.keys
        appended, last_id = target.store.run(target.script(_scripts.log_state), keys, (keys.data, keys.meta), [])
        return int(appended), last_id


def _records(schema: Schema, rows: list[bytes], np: Any) -> Any:
    size = schema.size
    if size == 0:
        return np.zeros(len(rows), dtype=schema.dtype)
    if any(len(row) != size for row in rows):
        raise SegmentError(f"a row of a {schema.name} log is not {size} bytes long: the log is damaged")
    return np.frombuffer(b"".join(rows), dtype=schema.dtype).copy()
