"""A block's lifecycle: who uses it, references in flight, and who removes it when.

Users. The header's users table lists the processes using a block: its creator, and every
process that attached to it by name or by unpickling (a child forked with the block already open
shares its parent's entry). A process stops using a block when it calls ``close()``, when its last
reference to the block goes away, or when it exits. The process that stops last removes the
block's names, unless the block was created with ``keep=True`` (then only :func:`shmstruct.unlink`
removes it) or a pickled reference to it is still on its way to another process.

Crashes. multiprocessing's resource tracker removes the names if the creating process is killed
while it uses the block (see :mod:`shmstruct._cpython`). If the creator stopped normally while
others still use the block, it hands the names to a small watcher process
(:mod:`shmstruct._janitor`) that removes them once every user has exited, however they exit.
Removing a name never disturbs processes that have the block mapped: their mapping stays valid
until they let go of it.

References in flight. A pickled reference (an instance sent to a pool, returned as a result, put
in a queue) keeps the block alive until it is unpickled, for up to :data:`HANDOFF_GRACE` seconds
from the moment it was pickled: a worker can return a struct it created and then drop it. A block
kept only by such a reference is removed once the grace has passed, when the process that stopped
last creates another block or exits (or by its watcher process, if it has exited). Every pickled
kind (a struct or row proxy, a table, a log, a lock) travels as one :class:`Reference` and is
rebuilt by one function, :func:`reconstruct`.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from multiprocessing import util

from . import _cpython
from ._errors import SegmentError
from ._files import Identity, unlink_if
from ._header import (
    FLAGS,
    IN_FLIGHT,
    KEEP,
    PINNED_UNTIL,
    REMOVED,
    SLOTS,
    read_field,
    slot_offset,
    user_pids,
    write_field,
)
from ._lock import SharedLock
from ._naming import segment_path
from ._processes import current_pid, is_alive
from ._record import Record

TYPE_CHECKING = False  # typing is for type checkers only: importing it costs a spawned child ~5 ms
if TYPE_CHECKING:
    from typing import Any, Final

    from ._block import SharedBlock

__all__ = [
    "HANDOFF_GRACE",
    "Reference",
    "Watched",
    "What",
    "claim_slot",
    "decode_watched",
    "encode_watched",
    "finalizer",
    "note_arrival",
    "reconstruct",
    "reference_to",
    "register_builder",
    "settle_pending",
    "still_wanted",
    "stopped_using",
    "track",
]

#: Seconds, from the moment it is pickled, that a reference keeps its block alive while it waits to
#: be unpickled (even if every process using the block has stopped meanwhile).
HANDOFF_GRACE = 10.0

_DETACH_LOCK_TIMEOUT = 2.0


# --------------------------------------------------------------------------- users


def claim_slot(block: SharedBlock) -> None:
    """Record this process in the block's users table (the caller holds the header lock).

    Raises:
        SegmentError: The table holds :data:`~shmstruct._header.SLOTS` live processes already.
    """
    pid = current_pid()
    pids = user_pids(block.mmap)
    if pid in pids:
        block._slot[0] = pids.index(pid)
        return
    for index, other in enumerate(pids):
        if other == 0 or not is_alive(other):
            write_field(block.mmap, slot_offset(index), pid)
            block._slot[0] = index
            return
    raise SegmentError(
        f"shared segment {block.name!r} is used by {SLOTS} live processes already, the most one segment "
        f"counts: this process cannot use it too. Hand the data to fewer processes, or split it in several segments."
    )


def track(name: str) -> None:
    """Have the resource tracker remove block ``name`` if this process (its creator) is killed."""
    _cpython.track(segment_path(name))


def finalizer(block: SharedBlock, tracked: bool) -> util.Finalize:
    """The finalizer that stops this process's use of ``block`` (see :func:`_detach`).

    multiprocessing's registry keeps it; it runs when the block is collected, on ``close()``, or
    at exit after multiprocessing has joined the children (a negative priority).
    """
    if _cpython.unpickling_process_arguments():
        # Unpickled as a new process's arguments: its bootstrap then clears multiprocessing's
        # finalizer registry (forkserver does), so register again after it.
        util.register_after_fork(block, _register_again)
    return _finalizer(block, current_pid(), tracked)


def _finalizer(block: SharedBlock, pid: int, tracked: bool) -> util.Finalize:
    arguments = (block.name, block.identity, block.mmap, block.header_lock, block._slot, pid, tracked)
    return util.Finalize(block, _detach, arguments, exitpriority=-10)


def _register_again(block: SharedBlock) -> None:
    if not block.closed and not block._close.still_active():
        block._close = _finalizer(block, current_pid(), False)


def stopped_using(block: SharedBlock) -> None:
    """``block.close()`` was called: this process keeps it for no lock that arrived alone."""
    if _keep_alive.get(block.name) is block:
        del _keep_alive[block.name]


# --------------------------------------------------------------------------- references in flight


class What:
    """What a pickled :class:`Reference` rebuilds: one of these tags. (Plain strings, not an Enum:
    making an Enum class costs every process that imports shmstruct, a spawned child too, about
    0.1 ms, and a tag on the wire needs none of an Enum's machinery.)"""

    STRUCT: Final = "struct"  # a struct proxy: a struct, a nested struct in one, or one row of a table
    TABLE: Final = "table"  # a table, or a slice of rows of a table or log
    LOG: Final = "log"
    LOCK: Final = "lock"


class Reference(Record):
    """A pickled reference to something in a block: everything :func:`reconstruct` needs.

    Attributes:
        name: The block's name.
        schema: The block's schema (checked against the segment's header on arrival).
        what: What to rebuild.
        cls: The proxy class (:attr:`What.STRUCT`), the row schema (tables and logs), or the block's
            schema (a lock).
        offset: Where the proxy or the first row starts, in bytes from the block's start.
        rows: How many rows a table view covers.
    """

    name: str
    schema: type[Any]
    what: str  # a What tag
    cls: type[Any]
    offset: int = 0
    rows: int = 0


#: How each kind is built from its block, registered by the module that defines the kind.
_builders: dict[str, Callable[[SharedBlock, Reference], Any]] = {}


def register_builder(what: str, build: Callable[[SharedBlock, Reference], Any]) -> None:
    """Tell :func:`reconstruct` how to build ``what`` from an attached block."""
    _builders[what] = build


def reference_to(
    block: SharedBlock, what: str, cls: type[Any] | None = None, offset: int = 0, rows: int = 0
) -> tuple[Callable[[Reference], Any], tuple[Reference]]:
    """What ``__reduce__`` returns for ``what`` in ``block``; notes the reference leaving (the block
    then outlives this process's use until the reference arrives, or :data:`HANDOFF_GRACE` passes).

    Raises:
        ValueError: The block is closed in this process.
    """
    if block.closed:
        raise ValueError(f"shared block {block.name!r} is closed in this process: it cannot be passed on")
    with block.header_lock.bookkeeping():
        write_field(block.mmap, IN_FLIGHT, read_field(block.mmap, IN_FLIGHT) + 1)
        write_field(
            block.mmap,
            PINNED_UNTIL,
            max(read_field(block.mmap, PINNED_UNTIL), time.time_ns() + int(HANDOFF_GRACE * 1e9)),
        )
    reference = Reference(block.name, block.schema, what, block.schema if cls is None else cls, offset, rows)
    return reconstruct, (reference,)


def note_arrival(mapping: Any) -> None:
    """A pickled reference to this block arrived (the caller holds the header lock)."""
    in_flight = read_field(mapping, IN_FLIGHT)
    if in_flight > 0:
        write_field(mapping, IN_FLIGHT, in_flight - 1)


def reconstruct(reference: Reference) -> Any:
    """Rebuild a pickled struct proxy, table, log or lock: attach its block (once per process;
    claiming a users-table slot and counting the arrival in one header-lock section), then build.

    Raises:
        SharedMemoryGoneError: The block was removed meanwhile.
        SchemaMismatchError: The segment of that name holds another schema now.
        SegmentError: It holds another kind, or is not a shmstruct block.
    """
    from ._block import SharedBlock  # the block module imports this one

    kind = "log" if reference.what == What.LOG else None
    block = SharedBlock.attach(reference.name, reference.schema, kind, from_pickle=True)
    if reference.what == What.LOCK:
        _keep_alive[reference.name] = block  # the lock alone does not hold its block: keep it (once)
        return block.lock
    if reference.what not in _builders:  # tables and logs: their module is loaded on first use
        from . import _table  # noqa: F401  (registers the builders of What.TABLE and What.LOG)
    return _builders[reference.what](block, reference)


# Blocks whose lock arrived alone in a pickle, kept open for this process until closed.
_keep_alive: dict[str, SharedBlock] = {}


# --------------------------------------------------------------------------- stopping and removing


def still_wanted(mapping: Any, exclude: int = 0) -> bool:
    """Whether another live process uses the block, or a reference to it is still on its way."""
    others = set(user_pids(mapping))
    others.difference_update((0, exclude))
    if any(map(is_alive, others)):
        return True
    return read_field(mapping, IN_FLIGHT) > 0 and time.time_ns() < read_field(mapping, PINNED_UNTIL)


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
        if still_wanted(mapping, exclude=pid):
            if tracked or read_field(mapping, IN_FLIGHT) > 0:
                _pending[name] = _Pending(pid, tracked, identity)  # decided again later, at the latest at exit
            return
        write_field(mapping, FLAGS, flags | REMOVED)
    unlink_if(name, identity)
    if tracked:
        _cpython.untrack(segment_path(name))


class _Pending(Record):
    """A block this process stopped using while it was still wanted."""

    pid: int  # the process that stopped (a forked child inherits the table, not the duty)
    tracked: bool  # this process created it: the resource tracker still has its name
    identity: Identity


# Names this process stopped using while they were still wanted: by this process's resource
# tracker entry (it created them), or by a reference in flight.
_pending: dict[str, _Pending] = {}


def settle_pending(at_exit: bool = False) -> list[Watched]:
    """Remove pending names nobody wants any more; return those still wanted (at exit, the
    resource tracker lets go of them all: a watcher process takes over)."""
    still: list[Watched] = []
    for name, pending in list(_pending.items()):
        if pending.pid != current_pid():
            continue
        from ._inspect import Settled, settle  # looking from outside: only needed once a block is pending

        settlement = settle(name, pending.identity)
        wanted = settlement.outcome is Settled.WANTED
        if wanted and not at_exit:
            if not pending.tracked and not settlement.in_flight:
                del _pending[name]  # other users will remove it
            continue
        del _pending[name]
        if pending.tracked:
            _cpython.untrack(segment_path(name))
        if wanted:
            still.append(Watched(name, pending.identity))
    return still


def has_pending() -> bool:
    """Whether this process stopped using blocks that were still wanted then."""
    return bool(_pending)


def _hand_off_at_exit() -> None:
    """At exit: remove names nobody wants any more; leave the rest to a watcher process."""
    watch = settle_pending(at_exit=True)
    if watch:
        # Isolated (-I: no PYTHONPATH, no user site, no script directory on the path), run from
        # "/", with no descriptor of ours: nothing in the exiting process's working directory or
        # environment is imported, only this very installation of shmstruct.
        import subprocess  # only a process that hands segments over at exit needs it

        subprocess.Popen(
            [sys.executable, "-I", "-c", _JANITOR_START, _PACKAGE_PARENT, *map(encode_watched, watch)],
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


class Watched(Record):
    """A segment handed to the watcher: its name, and the file that name must still point to."""

    name: str
    identity: Identity


def encode_watched(watched: Watched) -> str:
    """How a watched segment travels on the watcher's command line: ``name:device:inode``."""
    return f"{watched.name}:{watched.identity.device}:{watched.identity.inode}"


def decode_watched(argument: str) -> Watched:
    """The inverse of :func:`encode_watched`."""
    name, device, inode = argument.rsplit(":", 2)
    return Watched(name, Identity(int(device), int(inode)))


class _AtExit:
    """Registers :func:`_hand_off_at_exit` with multiprocessing's exit handlers, in this process
    and again in every child it forks (a forked child starts with an empty registry)."""

    @staticmethod
    def register(_: object = None) -> None:
        util.Finalize(None, _hand_off_at_exit, exitpriority=-20)


_AtExit.register()
util.register_after_fork(_AtExit, _AtExit.register)
