"""Shared blocks: one named POSIX shared-memory segment holding a header (with the lock) and data,
mapped in this process: creating one, attaching to one, and closing it.

Who uses a block, and who removes it when, is :mod:`shmstruct._lifecycle`'s business; the block
calls it when it is created, attached, unpickled and closed.

Within one process each block is opened once: attaching again returns the same object, with one
mapping and one lock object (re-entry works across proxies of the same block).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import mmap
import os
import sys
import time
import weakref

from . import _lifecycle
from ._errors import SegmentError, SegmentExistsError, SharedMemoryFullError
from ._files import SHM_DIRECTORY, Identity, gone, identity_of, name_points_to, open_segment, unlink_if
from ._header import (
    FLAGS,
    HEADER_LOCK,
    KEEP,
    LOCK,
    REMOVED,
    RING,
    HeaderInfo,
    Template,
    check_schema,
    read_field,
    read_header,
    template_of,
    write_header,
)
from ._lock import SharedLock
from ._naming import PREFIX, check_name, new_name
from ._processes import current_pid
from ._record import Record

TYPE_CHECKING = False  # typing is for type checkers only: importing it costs a spawned child ~5 ms
if TYPE_CHECKING:
    from typing import Any

__all__ = ["DEFAULT_MODE", "Mapped", "SharedBlock", "map_existing", "map_segment"]

#: Segments are readable and writable by their owner only, unless asked otherwise.
DEFAULT_MODE = 0o600

_open_blocks: weakref.WeakValueDictionary[str, SharedBlock] = weakref.WeakValueDictionary()


class SharedBlock:
    """One mapped shared-memory segment: its header, its data and its lock.

    Attributes:
        name: The block's name (see :mod:`shmstruct._naming` for the POSIX names behind it).
        mmap: The mapping. numpy views and proxies hold it, so it stays mapped while any exists.
        address: The mapping's start address.
        lock: The block's :class:`SharedLock`, the one users take.
        header_lock: The lock the library takes, briefly, to update the header's users table
            and references in flight (attaching never waits for the user lock).
        closed: Whether this process has stopped using the block (``close()`` was called).
        size: The mapping's size in bytes (header and data).
        data_offset: Where the data starts (the header's size).
        schema: The schema class of the data.
        kind: ``"struct"``, ``"table"`` or ``"log"``.
        rows: Table rows or log capacity (1 for a struct).
    """

    __slots__ = (
        "__weakref__",
        "_anchor",
        "_close",
        "_slot",
        "_views",
        "address",
        "closed",
        "data_offset",
        "header_lock",
        "identity",
        "info",
        "kind",
        "lock",
        "mmap",
        "name",
        "rows",
        "schema",
        "size",
    )

    def __init__(
        self,
        name: str,
        mapping: mmap.mmap,
        schema: type[Any],
        info: HeaderInfo,
        identity: Identity,
        slot: int,
        tracked: bool,
    ) -> None:
        self.name = name
        self.info = info
        self.identity = identity
        self.mmap = mapping
        self.size = len(mapping)
        self._anchor = ctypes.c_char.from_buffer(mapping)  # a buffer export: the address stays valid
        self.address: int = ctypes.addressof(self._anchor)
        self.lock = lock = SharedLock(name, mapping, LOCK)
        self.header_lock = SharedLock(name, mapping, HEADER_LOCK, warn=False)
        self.schema = schema
        self.kind = info.kind
        self.rows = info.rows
        self.data_offset = info.header_size
        self.closed = False
        self._views: weakref.ref[Any] | None = None
        lock._reference = weakref.WeakMethod(self._lock_reference)
        self._slot = [slot]  # shared with the finalizer, which clears this process's entry
        self._close = _lifecycle.finalizer(self, tracked)
        _open_blocks[name] = self

    # ------------------------------------------------------------------ creating and attaching

    @classmethod
    def create(
        cls,
        schema: type[Any],
        kind: str,
        data_size: int,
        rows: int = 1,
        *,
        name: str | None = None,
        keep: bool = False,
        mode: int = DEFAULT_MODE,
        ring: bool = False,
        pattern: bytes = b"",
        reserve: bool = True,
    ) -> SharedBlock:
        """Create and map a new block, owned by this process, its data zero-filled or filled with
        ``pattern`` repeated (a table's default row).

        ``reserve`` allocates every page now (the default), so that no later write can die of
        ``SIGBUS`` on a full ``/dev/shm``; without it only the header's pages are.

        Raises:
            SegmentNameError: ``name`` is not allowed.
            SegmentExistsError: A segment called ``name`` exists already.
            SharedMemoryFullError: ``/dev/shm`` has no room for it.
        """
        if isinstance(mode, bool) or not isinstance(mode, int) or not 0 <= mode <= 0o777:
            raise ValueError(f"mode must be permission bits from 0 to 0o777 (e.g. 0o600 or 0o660), got {mode!r}")
        if _lifecycle.has_pending():
            _lifecycle.settle_pending()
        name = new_name() if name is None else check_name(name)
        template = template_of(schema)
        total = template.header_size + data_size
        path = os.path.join(SHM_DIRECTORY, PREFIX + name)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
        except FileExistsError:
            attach = (
                f"shmstruct.attach({schema.__name__}, {name!r})"
                if kind == "struct"
                else f"shmstruct.{kind.title()}.attach({name!r}, {schema.__name__})"
            )
            raise SegmentExistsError(
                f"a shared segment named {name!r} already exists: attach to it with {attach}, "
                f"remove it with shmstruct.unlink({name!r}), or choose another name"
            ) from None
        created_ns = time.time_ns()
        try:
            try:
                # Held until the header is complete: "gc" treats a headerless file whose lock it
                # can take as left by a creator that died (the kernel drops the lock then).
                fcntl.flock(fd, fcntl.LOCK_EX)
                identity = identity_of(fd)
                if mode != DEFAULT_MODE:
                    os.fchmod(fd, mode)  # exactly as asked, whatever the umask
                os.ftruncate(fd, total)
                _reserve(fd, total if reserve else template.header_size, name)
                if pattern:
                    _fill(fd, template.header_size, data_size, pattern)
                mapping = map_segment(fd, total)
                flags = (KEEP if keep else 0) | (RING if ring else 0)
                write_header(mapping, template, kind, data_size, rows, flags, current_pid(), created_ns)
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
        except BaseException:
            unlink_if(name, None)
            raise
        if not keep:
            _lifecycle.track(name)
        info = HeaderInfo(
            kind, template.header_size, data_size, template.fingerprint, current_pid(), created_ns, flags, rows,
            template.description, None,
        )  # fmt: skip
        return cls(name, mapping, schema, info, identity, 0, not keep)

    @classmethod
    def attach(cls, name: str, schema: type[Any], kind: str | None = None, *, from_pickle: bool = False) -> SharedBlock:
        """Map the existing block ``name`` (or return this process's open one) and check that it
        holds ``schema`` (and ``kind``, if given).

        Raises:
            SharedMemoryGoneError: No block of that name exists (any more).
            SegmentError: The segment is not a shmstruct block, is damaged, or holds another kind.
            SchemaMismatchError: It holds another schema or a changed version of this one.
        """
        block = _open_blocks.get(name)
        if block is not None and not name_points_to(name, block.identity):
            block = None  # the name was removed, or now names another segment (a restarted service's)
        if block is None:
            return cls._open(name, schema, kind, from_pickle)
        if block.schema is not schema:
            check_schema(block.info, schema, name)
        _check_kind(block, kind)
        if from_pickle:
            with block.header_lock.bookkeeping():
                _lifecycle.note_arrival(block.mmap)
        return block

    @classmethod
    def _open(cls, name: str, schema: type[Any], kind: str | None, from_pickle: bool) -> SharedBlock:
        mapped = map_existing(name, expected=template_of(schema))
        mapping, info, identity = mapped.mapping, mapped.info, mapped.identity
        check_schema(info, schema, name)
        block = cls(name, mapping, schema, info, identity, -1, False)
        try:
            _check_kind(block, kind)
            with block.header_lock.bookkeeping():  # one section: claim a slot, and count the arrival
                if read_field(mapping, FLAGS) & REMOVED:
                    raise gone(name)
                _lifecycle.claim_slot(block)
                if from_pickle:
                    _lifecycle.note_arrival(mapping)
        except BaseException:
            block._close.cancel()
            block.close()
            raise
        return block

    def _lock_reference(self) -> tuple[Any, ...]:
        return _lifecycle.reference_to(self, _lifecycle.What.LOCK)

    # ------------------------------------------------------------------ closing

    def close(self) -> None:
        """Stop using the block in this process; the last process to stop removes its names.

        Views and proxies already made keep their mapping, so nothing crashes, but they must not
        be used any more. Closing twice does nothing.
        """
        self.closed = True
        self._close()
        if _open_blocks.get(self.name) is self:
            del _open_blocks[self.name]
        _lifecycle.stopped_using(self)

    def view_buffer(self) -> Any:
        """The buffer numpy views of this block are made on: a ctypes array over the mapping that
        holds the block, so that a view alone keeps this process counted as a user (the block
        itself only holds it weakly: no reference cycle delays the block's release)."""
        buffer: Any = self._views() if self._views is not None else None
        if buffer is None:
            buffer = (ctypes.c_char * self.size).from_buffer(self.mmap)
            buffer.block = self
            self._views = weakref.ref(buffer)
        return buffer

    def offset_of(self, obj: Any) -> int:
        """The byte offset of a ctypes object that lives in this block."""
        return ctypes.addressof(obj) - self.address


def _check_kind(block: SharedBlock, kind: str | None) -> None:
    if kind is not None and block.kind != kind:
        raise SegmentError(
            f"shared segment {block.name!r} holds a {block.kind} of {block.schema.__name__}, not a {kind}"
        )


def map_segment(fd: int, size: int, **options: Any) -> mmap.mmap:
    """Map ``size`` bytes of segment ``fd`` shared. Python 3.13+ is told not to keep a duplicate of
    the descriptor (before 3.13 every open block holds one file descriptor)."""
    if sys.version_info >= (3, 13):
        options["trackfd"] = False
    return mmap.mmap(fd, size, **options)


class Mapped(Record):
    """An existing segment, mapped: the mapping, what its header says, and which file it is."""

    mapping: mmap.mmap
    info: HeaderInfo
    identity: Identity


def map_existing(name: str, access: int = mmap.ACCESS_WRITE, expected: Template | None = None) -> Mapped:
    """Map the whole of the existing segment ``name`` (``mmap.ACCESS_READ`` for a read-only look),
    after reading and validating its header from the file (see :mod:`shmstruct._files`).

    Raises:
        SegmentNameError: ``name`` is not a valid segment name.
        SharedMemoryGoneError: No such segment.
        SegmentError: Not a shmstruct block (or not a regular file), damaged, or of another format.
    """
    fd = open_segment(name, writable=access != mmap.ACCESS_READ)
    try:
        info = read_header(fd, name, expected)
        return Mapped(map_segment(fd, info.header_size + info.data_size, access=access), info, identity_of(fd))
    finally:
        os.close(fd)


def _reserve(fd: int, size: int, name: str) -> None:
    """Allocate every page of a new segment now. Without this, a tmpfs that fills up later kills
    the process that touches an unbacked page with SIGBUS; with it, creation fails cleanly.

    Raises:
        SharedMemoryFullError: Not enough room in /dev/shm.
    """
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.ENOMEM, errno.EFBIG):
            raise
        raise SharedMemoryFullError(errno.ENOSPC, _no_room_message(name, size)) from None


def _no_room_message(name: str, size: int) -> str:
    try:
        stats = os.statvfs(SHM_DIRECTORY)
        free = f"{stats.f_bavail * stats.f_frsize:,} bytes are free of {stats.f_blocks * stats.f_frsize:,}"
    except OSError:
        free = "the free space is unknown"
    return (
        f"no room in {SHM_DIRECTORY} for shared segment {name!r}: it needs {size:,} bytes and {free}. "
        f"Give the machine or container more shared memory (docker run --shm-size=2g ..., or the size= "
        f"option of the tmpfs mounted on {SHM_DIRECTORY}), or remove segments nobody uses: "
        f"python -m shmstruct gc"
    )


def _fill(fd: int, start: int, size: int, pattern: bytes) -> None:
    # Written through the descriptor, not the mapping: the kernel then allocates the pages without
    # one page fault per 4 KiB, and later reads map them 16 pages per fault. That halves the cost
    # of creating a large table with non-zero defaults (measured in benchmarks/bench_table.py).
    chunk = memoryview(pattern * -(-min(size, 1 << 20) // len(pattern)))
    written = 0
    while written < size:
        written += os.pwrite(fd, chunk[: size - written], start + written)
