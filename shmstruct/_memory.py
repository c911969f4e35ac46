"""Shared blocks: one named POSIX shared-memory segment holding a header (with the lock) and data.

Lifecycle. The header's users table lists the processes using a block: its creator, and every
process that attached to it by name or by unpickling (a child forked with the block already open
shares its parent's entry). A process stops using a block when it calls ``close()``, when its last
reference to the block goes away, or when it exits. The process that stops last removes the
block's names, unless the block was created with ``keep=True`` (then only :func:`shmstruct.unlink`
removes it) or a pickled reference to it is still on its way to another process.

Crashes. multiprocessing's resource tracker removes the names if the creating process is killed
while it uses the block. If the creator stopped normally while others still use the block, it
hands the names to a small watcher process (:mod:`shmstruct._janitor`) that removes them
once every user has exited, however they exit. Removing a name never disturbs processes that have
the block mapped: their mapping stays valid until they let go of it.

References in flight. A pickled reference (an instance sent to a pool, returned as a result, put
in a queue) keeps the block alive until it is unpickled, for up to :data:`HANDOFF_GRACE` seconds
from the moment it was pickled: a worker can return a struct it created and then drop it. A block
kept only by such a reference is removed once the grace has passed, when the process that stopped
last creates another block or exits (or by its watcher process, if it has exited).

Within one process each block is opened once: attaching again returns the same object, with one
mapping and one lock object (re-entry works across proxies of the same block).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import mmap
import os
import subprocess
import sys
import time
import weakref
from dataclasses import dataclass
from multiprocessing import process, resource_tracker, util
from typing import Any

from ._errors import SegmentError, SegmentExistsError, SharedMemoryFullError, SharedMemoryGoneError, ShmStructError
from ._files import SHM_DIRECTORY, Identity, NotARegularFile, gone, identity_of, name_points_to, open_segment
from ._header import (
    FLAGS,
    HEADER_LOCK,
    IN_FLIGHT,
    KEEP,
    LOCK,
    MAGIC,
    PINNED_UNTIL,
    REMOVED,
    RING,
    SLOTS,
    HeaderInfo,
    Template,
    check_schema,
    read_field,
    read_header,
    slot_offset,
    template_of,
    user_pids,
    write_field,
    write_header,
)
from ._lock import SharedLock
from ._naming import PREFIX, check_name, new_name, segment_path
from ._processes import current_pid, is_alive

__all__ = [
    "DEFAULT_MODE",
    "Peek",
    "SharedBlock",
    "collect_garbage",
    "decode_watched",
    "encode_watched",
    "peek",
    "remove",
    "settle",
]

#: Segments are readable and writable by their owner only, unless asked otherwise.
DEFAULT_MODE = 0o600


_DETACH_LOCK_TIMEOUT = 2.0

#: Seconds, from the moment it is pickled, that a reference keeps its block alive while it waits to
#: be unpickled (even if every process using the block has stopped meanwhile).
HANDOFF_GRACE = 10.0

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
        self.header_lock = header_lock = SharedLock(name, mapping, HEADER_LOCK, warn=False)
        self.schema = schema
        self.kind = info.kind
        self.rows = info.rows
        self.data_offset = info.header_size
        self.closed = False
        self._views: weakref.ref[Any] | None = None
        lock._reference = weakref.WeakMethod(self._lock_reference)
        # multiprocessing's registry keeps the finalizer; it runs when the block is collected, on
        # close(), or at exit after multiprocessing has joined the children (negative priority).
        self._slot = [slot]  # shared with the finalizer, which clears this process's entry
        self._close = util.Finalize(
            self, _detach, (name, identity, mapping, header_lock, self._slot, current_pid(), tracked), exitpriority=-10
        )
        if getattr(process.current_process(), "_inheriting", False):
            # Unpickled as a new process's arguments: its bootstrap then clears multiprocessing's
            # finalizer registry (forkserver does), so register again after it.
            util.register_after_fork(self, SharedBlock._register_again)
        _open_blocks[name] = self

    def _register_again(self) -> None:
        if not self.closed and not self._close.still_active():
            args = (self.name, self.identity, self.mmap, self.header_lock, self._slot, current_pid(), False)
            self._close = util.Finalize(self, _detach, args, exitpriority=-10)

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
        if _pending:
            _settle_pending(at_exit=False)
        name = new_name() if name is None else check_name(name)
        template = template_of(schema)
        total = template.header_size + data_size
        path = os.path.join(SHM_DIRECTORY, PREFIX + name)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
        except FileExistsError:
            raise SegmentExistsError(
                f"a shared segment named {name!r} already exists: attach to it with attach({name!r}), "
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
            _unlink_if(name, None)
            raise
        if not keep:
            _tell_tracker("REGISTER", name)
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
                block._arrived()
        return block

    @classmethod
    def _open(cls, name: str, schema: type[Any], kind: str | None, from_pickle: bool) -> SharedBlock:
        mapping, info, identity = map_existing(name, expected=template_of(schema))
        check_schema(info, schema, name)
        block = cls(name, mapping, schema, info, identity, -1, False)
        try:
            _check_kind(block, kind)
            with block.header_lock.bookkeeping():  # one section: claim a slot, and count the arrival
                if read_field(mapping, FLAGS) & REMOVED:
                    raise gone(name)
                block._claim_slot()
                if from_pickle:
                    block._arrived()
        except BaseException:
            block._close.cancel()
            block.close()
            raise
        return block

    # ------------------------------------------------------------------ references in flight

    def pickled(self) -> tuple[str, type[Any]]:
        """Note a reference to this block leaving in a pickle (the block then outlives this
        process's use until the reference arrives); returns what the reference carries."""
        if self.closed:
            raise ValueError(f"shared block {self.name!r} is closed in this process: it cannot be passed on")
        with self.header_lock.bookkeeping():
            write_field(self.mmap, IN_FLIGHT, read_field(self.mmap, IN_FLIGHT) + 1)
            write_field(
                self.mmap,
                PINNED_UNTIL,
                max(read_field(self.mmap, PINNED_UNTIL), time.time_ns() + int(HANDOFF_GRACE * 1e9)),
            )
        return (self.name, self.schema)

    def _arrived(self) -> None:
        """A pickled reference to this block arrived (the caller holds the header lock)."""
        in_flight = read_field(self.mmap, IN_FLIGHT)
        if in_flight > 0:
            write_field(self.mmap, IN_FLIGHT, in_flight - 1)

    def _claim_slot(self) -> None:
        """Record this process in the users table (under the header lock).

        Raises:
            SegmentError: The table holds :data:`SLOTS` live processes already.
        """
        pid = current_pid()
        pids = user_pids(self.mmap)
        if pid in pids:
            self._slot[0] = pids.index(pid)
            return
        for index, other in enumerate(pids):
            if other == 0 or not is_alive(other):
                write_field(self.mmap, slot_offset(index), pid)
                self._slot[0] = index
                return
        raise SegmentError(
            f"shared segment {self.name!r} is used by {SLOTS} live processes already, the most one segment "
            f"counts: this process cannot use it too. Hand the data to fewer processes, or split it in several segments."
        )

    def _lock_reference(self) -> tuple[Any, ...]:
        return (_attached_lock, self.pickled())

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
        if _keep_alive.get(self.name) is self:
            del _keep_alive[self.name]

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


def map_existing(
    name: str, access: int = mmap.ACCESS_WRITE, expected: Template | None = None
) -> tuple[mmap.mmap, HeaderInfo, Identity]:
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
        return map_segment(fd, info.header_size + info.data_size, access=access), info, identity_of(fd)
    finally:
        os.close(fd)


def _attached_lock(name: str, schema: type[Any]) -> SharedLock:
    block = SharedBlock.attach(name, schema, from_pickle=True)
    _keep_alive[name] = block  # the lock alone does not hold its block; keep it (once) for this process
    return block.lock


# Blocks whose lock arrived alone in a pickle, kept open for this process until closed.
_keep_alive: dict[str, SharedBlock] = {}


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


# --------------------------------------------------------------------------- stopping and removing


def _detach(
    name: str, identity: Identity, mapping: Any, lock: SharedLock, slot: list[int], pid: int, tracked: bool
) -> None:
    """This process stops using block ``name``; remove the name if it was the last user."""
    if current_pid() != pid:  # a forked child inherited the finalizer: not its to run
        return
    with lock.bookkeeping(timeout=_DETACH_LOCK_TIMEOUT):  # if it times out, go on without: best effort
        if slot[0] >= 0 and read_field(mapping, slot_offset(slot[0])) == pid:
            write_field(mapping, slot_offset(slot[0]), 0)
        flags = read_field(mapping, FLAGS)
        if flags & (KEEP | REMOVED):
            return
        if _still_wanted(mapping, exclude=pid):
            if tracked or read_field(mapping, IN_FLIGHT) > 0:
                _pending[name] = (pid, tracked, identity)  # decided again later, at the latest at exit
            return
        write_field(mapping, FLAGS, flags | REMOVED)
    _unlink_if(name, identity)
    if tracked:
        _tell_tracker("UNREGISTER", name)


def _still_wanted(mapping: Any, exclude: int = 0) -> bool:
    """Whether another live process uses the block, or a reference to it is still on its way."""
    others = set(user_pids(mapping))
    others.difference_update((0, exclude))
    if any(map(is_alive, others)):
        return True
    return read_field(mapping, IN_FLIGHT) > 0 and time.time_ns() < read_field(mapping, PINNED_UNTIL)


def _unlink_if(name: str, identity: Identity | None) -> None:
    """Remove segment name ``name`` if it still names the segment ``identity`` (any, if None): a
    name that now belongs to another segment (a restarted service's) is left alone."""
    if identity is not None and not name_points_to(name, identity):
        return
    try:
        os.unlink(os.path.join(SHM_DIRECTORY, PREFIX + name))
    except FileNotFoundError:
        pass


# Names this process stopped using while they were still wanted: by this process's resource
# tracker entry (it created them), or by a reference in flight. name -> (pid, tracked, identity).
_pending: dict[str, tuple[int, bool, Identity]] = {}


def _settle_pending(at_exit: bool) -> list[tuple[str, Identity]]:
    """Remove pending names nobody wants any more; return those still wanted (at exit, the
    resource tracker lets go of them all: a watcher process takes over)."""
    still: list[tuple[str, Identity]] = []
    for name, (pid, tracked, identity) in list(_pending.items()):
        if pid != current_pid():
            continue
        outcome, in_flight = settle(name, identity)
        if outcome == "wanted" and not at_exit:
            if not tracked and not in_flight:
                del _pending[name]  # other users will remove it
            continue
        del _pending[name]
        if tracked:
            _tell_tracker("UNREGISTER", name)
        if outcome == "wanted":
            still.append((name, identity))
    return still


def settle(name: str, identity: Identity) -> tuple[str, int]:
    """Remove block ``name`` (the segment ``identity``) if nobody wants it any more. Returns what
    it found ("gone" when it is removed already, replaced by another segment of that name or kept
    on purpose; "wanted"; or "removed") and the references in flight."""
    try:
        state = peek(name)
    except (ShmStructError, OSError):
        return "gone", 0
    if state.identity != identity or state.flags & (KEEP | REMOVED):
        return "gone", 0
    if state.wanted:
        return "wanted", state.in_flight
    _mark_removed_and_unlink(name, identity)
    return "removed", 0


def _hand_off_at_exit() -> None:
    """At exit: remove names nobody wants any more; leave the rest to a watcher process."""
    watch = _settle_pending(at_exit=True)
    if watch:
        # Isolated (-I: no PYTHONPATH, no user site, no script directory on the path), run from
        # "/", with no descriptor of ours: nothing in the exiting process's working directory or
        # environment is imported, only this very installation of shmstruct.
        subprocess.Popen(
            [sys.executable, "-I", "-c", _JANITOR_START, _PACKAGE_PARENT, *(encode_watched(n, i) for n, i in watch)],
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )


#: The directory holding this shmstruct package, and how the watcher imports it from there.
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_JANITOR_START = "import sys; sys.path.insert(0, sys.argv.pop(1)); from shmstruct._janitor import main; main()"


def encode_watched(name: str, identity: Identity) -> str:
    """How a watched segment travels on the watcher's command line: ``name:device:inode``."""
    return f"{name}:{identity.device}:{identity.inode}"


def decode_watched(argument: str) -> tuple[str, Identity]:
    """The inverse of :func:`encode_watched`."""
    name, device, inode = argument.rsplit(":", 2)
    return name, Identity(int(device), int(inode))


class _AtExit:
    """Registers :func:`_hand_off_at_exit` with multiprocessing's exit handlers, in this process
    and again in every child it forks (a forked child starts with an empty registry)."""

    @staticmethod
    def register(_: object = None) -> None:
        util.Finalize(None, _hand_off_at_exit, exitpriority=-20)


_AtExit.register()
util.register_after_fork(_AtExit, _AtExit.register)


@dataclass(frozen=True)
class Peek:
    """What a segment's header says, read without mapping or using it."""

    info: HeaderInfo
    identity: Identity
    size: int
    flags: int
    in_flight: int
    live_users: list[int]
    wanted: bool


def peek(name: str) -> Peek:
    """Read block ``name``'s header without using the block (for the watcher, ``gc`` and the
    command line): bounded reads of the file, never a mapping.

    Raises:
        SharedMemoryGoneError: No such segment.
        SegmentError: Not a shmstruct block, not a regular file, or damaged.
        PermissionError: The caller may not read it.
    """
    fd = open_segment(name)
    try:
        info = read_header(fd, name)
        identity = identity_of(fd)
    finally:
        os.close(fd)
    head = info.head
    return Peek(
        info, identity, info.header_size + info.data_size, read_field(head, FLAGS), read_field(head, IN_FLIGHT),
        [p for p in user_pids(head) if p and is_alive(p)], _still_wanted(head),
    )  # fmt: skip


def _mark_removed_and_unlink(name: str, identity: Identity | None) -> None:
    """Flag the segment removed (so that no one attaches to it any more) and remove its name, if
    the name still names it. Written with ``pwrite``: a damaged file cannot make this crash."""
    try:
        fd = open_segment(name, writable=True)
    except SharedMemoryGoneError:
        return
    except (SegmentError, PermissionError):
        fd = -1
    try:
        if fd >= 0 and (identity is None or identity_of(fd) == identity):
            head = os.pread(fd, FLAGS + 8, 0)
            if len(head) == FLAGS + 8 and head[: len(MAGIC)] == MAGIC:
                os.pwrite(fd, (read_field(head, FLAGS) | REMOVED).to_bytes(8, "little", signed=True), FLAGS)
    finally:
        if fd >= 0:
            os.close(fd)
    _unlink_if(name, identity)


def remove(name: str, force: bool = True) -> None:
    """Remove shared segment ``name`` now (processes that have it mapped keep working). For
    segments created with ``keep=True``, left behind, or damaged.

    Args:
        name: The segment's name.
        force: Remove it even while live processes use it (``shmstruct.unlink`` does); if False,
            such a segment is refused, naming them.

    Raises:
        SharedMemoryGoneError: No such segment.
        SegmentError: Not a regular file (a FIFO, a directory, a link: not removed), or in use
            and ``force`` is False.
    """
    try:
        state = peek(name)
    except NotARegularFile:
        raise
    except SegmentError:
        _unlink_if(name, None)  # a damaged or half-made file: nothing in it can be trusted, nor used
        return
    if not force:
        others = [pid for pid in state.live_users if pid != current_pid()]
        if others:
            raise SegmentError(
                f"shared segment {name!r} is in use by process(es) {', '.join(map(str, others))}: not removing it (use --force to remove it anyway)"
            )
    _mark_removed_and_unlink(name, state.identity)


#: A headerless file written to more recently than this may be one whose creator has opened it
#: and not yet locked it (a window of microseconds); older, a free creation lock means its
#: creator died. (The lock decides; the age only covers that window.)
_CREATION_WINDOW_NS = 5_000_000_000


def _abandoned_creation(name: str) -> Identity | None:
    """The identity of a headerless segment whose creator died while making it, or None."""
    fd = open_segment(name)
    try:
        if os.pread(fd, len(MAGIC), 0) == MAGIC:
            return None  # a header: damaged, perhaps, but not half-made
        info = os.fstat(fd)
        if time.time_ns() - info.st_mtime_ns < _CREATION_WINDOW_NS:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None  # its creator is alive and still writing it
        return identity_of(fd)
    finally:
        os.close(fd)


def collect_garbage() -> tuple[list[str], list[str]]:
    """Remove every shmstruct segment that no live process uses and no reference in flight keeps,
    except those created with ``keep=True``, and every half-made one whose creator died.

    Returns:
        The names removed, and one line for each entry left alone because it cannot be judged
        (damaged, another format, not a regular file, not readable by this user).
    """
    removed: list[str] = []
    skipped: list[str] = []
    for name in live_names():
        try:
            state = peek(name)
        except SharedMemoryGoneError:
            continue
        except (NotARegularFile, PermissionError) as exc:
            skipped.append(f"{name}: {exc}")
            continue
        except SegmentError as exc:
            try:
                abandoned = _abandoned_creation(name)
            except (ShmStructError, OSError):
                abandoned = None
            if abandoned is None:
                skipped.append(f"{name}: {exc}")
            else:
                _unlink_if(name, abandoned)
                removed.append(name)
            continue
        if state.flags & (KEEP | REMOVED) or state.wanted:
            continue
        _mark_removed_and_unlink(name, state.identity)
        removed.append(name)
    return removed, skipped


def live_names() -> list[str]:
    """The names of the shmstruct segments in /dev/shm (Linux), sorted."""
    try:
        entries = os.listdir(SHM_DIRECTORY)
    except OSError:
        return []
    return sorted(entry[len(PREFIX) :] for entry in entries if entry.startswith(PREFIX))


def _tell_tracker(command: str, name: str) -> None:
    """(Un)register a block's name with multiprocessing's resource tracker, which removes it if
    this process dies without doing so itself."""
    resources = ((segment_path(name), "shared_memory"),)
    tracker = resource_tracker._resource_tracker
    if sys.version_info < (3, 14) and hasattr(tracker, "_fd"):
        # The public register() probes the tracker with an extra write before every message:
        # ~15 us a name, half the cost of creating a block. Here one write carries both lines, in
        # the line format Python 3.8-3.13's tracker reads, and the tracker is probed only when
        # this process has no connection to it yet or the connection broke.
        lines = "".join(f"{command}:{resource}:{rtype}\n" for resource, rtype in resources).encode("ascii")
        fd = tracker._fd
        if fd is None or getattr(tracker, "_pid", None) is None:
            tracker.ensure_running()
            fd = tracker._fd
        try:
            os.write(fd, lines)
        except OSError:  # the tracker died: start a new one and tell it
            tracker.ensure_running()
            os.write(tracker._fd, lines)
        return
    for resource, rtype in resources:  # pragma: no cover - Python 3.14+
        (resource_tracker.register if command == "REGISTER" else resource_tracker.unregister)(resource, rtype)
