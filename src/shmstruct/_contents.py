"""Reading a segment's contents from outside, for the command line: which rows, copied under the
segment's lock so that they come from one moment.

Nothing here imports user code: the record layout comes from the segment's header. The file is
read with ``pread`` (never through a mapping of the data), so a damaged, shrinking or hostile file
gives a :class:`~shmstruct.SegmentError`, not a crash. Only the rows asked for are copied: showing
the last 20 rows of a 1 GiB log reads 20 rows.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ._block import map_segment
from ._files import Identity, identity_of, open_segment, read_bytes
from ._header import APPENDED, FIXED_PART, FLAGS, LOCK, RING, HeaderInfo, read_field, read_header
from ._lock import SharedLock
from ._record import Record

__all__ = ["LOCK_WAIT_SECONDS", "Contents", "Selection", "read_contents"]

#: How long a reader waits for a segment's lock before it reads the values without it.
LOCK_WAIT_SECONDS = 2.0


class Selection(Record):
    """Which rows of a table or log to read: the first ``count`` (``head``), the last ``count``,
    or, with ``head`` None, the first ones of a table and the last (newest) ones of a log;
    ``count`` None means every row."""

    head: bool | None
    count: int | None

    def bounds(self, length: int, log: bool) -> tuple[int, int]:
        """The range ``[start, stop)`` of row positions (0 = first, or oldest) among ``length``."""
        if self.count is None or self.count >= length:
            return 0, length
        head = not log if self.head is None else self.head
        return (0, self.count) if head else (length - self.count, length)


class Contents(Record):
    """What a segment held at one moment (the rows read, not necessarily all of them).

    Attributes:
        name: The segment's name.
        info: Its validated header.
        identity: Its file (a name removed and given to a new segment gets another identity).
        length: The rows it holds: 1 for a struct, the rows of a table, the rows a log holds now.
        appended: For a log, how many rows were ever appended (a ring holds the last ``capacity``).
        ring: Whether it is a ring log.
        first: The index of the first row read: the row number in a table, the append number
            (counted from 0 since the log was created) in a log.
        records: The rows read, a numpy structured array (oldest first for a log).
        lock_holder: The pid holding the lock when the reader looked, or None.
        note: None when the rows were copied under the lock; otherwise why they were not (then
            they may mix two moments).
    """

    name: str
    info: HeaderInfo
    identity: Identity
    length: int
    appended: int
    ring: bool
    first: int
    records: Any
    lock_holder: int | None
    note: str | None


def read_contents(name: str, selection: Selection) -> Contents:
    """Copy segment ``name``'s header and the selected rows, under its lock (one moment), or, when
    the lock stays held for :data:`LOCK_WAIT_SECONDS` or the caller may only read the segment,
    without it (``note`` says which).

    Raises:
        SharedMemoryGoneError: No such segment.
        SegmentNameError: ``name`` is not a valid segment name.
        SegmentError: Not a shmstruct segment, damaged, or truncated while being read.
        PermissionError: The caller may not read it.
    """
    try:
        fd, writable = open_segment(name, writable=True), True
    except PermissionError:
        fd, writable = open_segment(name), False
    try:
        info = read_header(fd, name)
        identity = identity_of(fd)
        if not writable:
            note = "read-only access: the values were read without the lock, and may mix two moments"
            return _read_rows(fd, name, info, identity, selection, None, note)
        mapping = map_segment(fd, info.header_size)  # the header only: the lock lives there
        try:
            return _read_locked(fd, name, info, identity, selection, mapping)
        finally:
            try:
                mapping.close()
            except BufferError:  # an error's traceback still holds the lock, a view of it: it goes with them
                pass
    finally:
        os.close(fd)


def _read_locked(
    fd: int, name: str, info: HeaderInfo, identity: Identity, selection: Selection, mapping: Any
) -> Contents:
    lock = SharedLock(name, mapping, LOCK)
    holder = lock.holder  # before this reader takes the lock itself
    with lock.bookkeeping(timeout=LOCK_WAIT_SECONDS) as taken:  # a reader that dies here changes nothing
        if taken:
            return _read_rows(fd, name, info, identity, selection, holder, None)
    note = (
        f"the lock stayed held (by process {lock.holder}) for {LOCK_WAIT_SECONDS:g} s: "
        "the values were read without it, and may mix two moments"
    )
    return _read_rows(fd, name, info, identity, selection, holder, note)


def _read_rows(
    fd: int, name: str, info: HeaderInfo, identity: Identity, selection: Selection, holder: int | None, note: str | None
) -> Contents:
    head = read_bytes(fd, 0, FIXED_PART, name)
    appended, ring = max(0, read_field(head, APPENDED)), bool(read_field(head, FLAGS) & RING)
    capacity = 1 if info.kind == "struct" else info.rows
    length = min(appended, capacity) if info.kind == "log" else capacity
    start, stop = (0, 1) if info.kind == "struct" else selection.bounds(length, info.kind == "log")
    # Row position p (0 = oldest) of a ring that has wrapped lives in slot (appended + p) % capacity.
    wrapped = info.kind == "log" and ring and appended > capacity
    slot = (appended + start) % capacity if wrapped else start
    itemsize = info.dtype.itemsize
    wanted, parts = stop - start, []
    while wanted:  # one run of slots, or two when the selection wraps round the end of a ring
        run = min(wanted, capacity - slot)
        parts.append(read_bytes(fd, info.header_size + slot * itemsize, run * itemsize, name))
        slot, wanted = 0, wanted - run
    records = np.frombuffer(b"".join(parts), dtype=info.dtype)
    first = start + (appended - length if info.kind == "log" else 0)
    return Contents(name, info, identity, length, appended, ring, first, records, holder, note)
