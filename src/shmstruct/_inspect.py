"""Looking at segments from outside, and removing them by name: for the watcher, ``gc``, the
command line and :func:`shmstruct.unlink`.

Nothing here maps a segment or joins its users table: a header is read with bounded ``pread``
calls (see :mod:`shmstruct._files`), so a damaged or hostile file can be judged, listed or
removed without trusting it, and looking never counts as using.
"""

from __future__ import annotations

import enum
import fcntl
import os
import time

from ._errors import SegmentError, SharedMemoryGoneError, ShmStructError
from ._files import SHM_DIRECTORY, Identity, NotARegularFile, identity_of, open_segment, unlink_if
from ._header import (
    FLAGS,
    IN_FLIGHT,
    KEEP,
    MAGIC,
    REMOVED,
    HeaderInfo,
    read_field,
    read_header,
    user_pids,
)
from ._lifecycle import still_wanted
from ._naming import PREFIX
from ._processes import current_pid, is_alive
from ._record import Record

__all__ = [
    "Collected",
    "Peek",
    "Settled",
    "Settlement",
    "collect_garbage",
    "live_names",
    "mark_removed_and_unlink",
    "peek",
    "remove",
    "settle",
]


class Peek(Record):
    """What a segment's header says, read without mapping or using it."""

    info: HeaderInfo
    identity: Identity
    size: int
    flags: int
    in_flight: int
    live_users: list[int]
    wanted: bool


class Collected(Record):
    """What :func:`collect_garbage` did.

    Attributes:
        removed: The names removed.
        skipped: One line for each entry left alone because it cannot be judged (damaged, another
            format, not a regular file, not readable by this user).
    """

    removed: list[str]
    skipped: list[str]


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
        [p for p in user_pids(head) if p and is_alive(p)], still_wanted(head),
    )  # fmt: skip


def mark_removed_and_unlink(name: str, identity: Identity | None) -> None:
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
    unlink_if(name, identity)


class Settled(enum.Enum):
    """What :func:`settle` found."""

    GONE = "gone"  # removed already, replaced by another segment of that name, or kept on purpose
    WANTED = "wanted"  # a live process uses it, or a reference to it is on its way
    REMOVED = "removed"  # nobody wanted it: removed now


class Settlement(Record):
    """The result of :func:`settle`: what it found, and the references in flight it saw."""

    outcome: Settled
    in_flight: int = 0


def settle(name: str, identity: Identity) -> Settlement:
    """Remove block ``name`` (the segment ``identity``) if nobody wants it any more."""
    try:
        state = peek(name)
    except (ShmStructError, OSError):
        return Settlement(Settled.GONE)
    if state.identity != identity or state.flags & (KEEP | REMOVED):
        return Settlement(Settled.GONE)
    if state.wanted:
        return Settlement(Settled.WANTED, state.in_flight)
    mark_removed_and_unlink(name, identity)
    return Settlement(Settled.REMOVED)


def remove(name: str, force: bool = True) -> None:
    """Remove shared segment ``name`` now: :func:`shmstruct.unlink` (which documents it) and the
    command line's ``remove``."""
    try:
        state = peek(name)
    except NotARegularFile:
        raise
    except SegmentError:
        unlink_if(name, None)  # a damaged or half-made file: nothing in it can be trusted, nor used
        return
    if not force:
        others = [pid for pid in state.live_users if pid != current_pid()]
        if others:
            raise SegmentError(
                f"shared segment {name!r} is in use by {_describe_processes(others)}: not removing it "
                "(--force removes it anyway: they keep using it, but no process can attach to it any more)"
            )
    mark_removed_and_unlink(name, state.identity)


def _describe_processes(pids: list[int]) -> str:
    """``process 12 (python3)`` or ``processes 12 (python3), 34 (worker)``: the command names
    help to tell which program still uses a segment."""
    described = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as comm:
                command = comm.read().strip()
        except OSError:
            command = ""
        described.append(f"{pid} ({command})" if command and command.isprintable() else str(pid))
    return f"process{'es' if len(pids) > 1 else ''} {', '.join(described)}"


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


def collect_garbage() -> Collected:
    """Remove every shmstruct segment that no live process uses and no reference in flight keeps,
    except those created with ``keep=True``, and every half-made one whose creator died.

    Returns:
        The names removed, and the entries left alone because they cannot be judged.
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
                unlink_if(name, abandoned)
                removed.append(name)
            continue
        if state.flags & (KEEP | REMOVED) or state.wanted:
            continue
        mark_removed_and_unlink(name, state.identity)
        removed.append(name)
    return Collected(removed, skipped)


def live_names() -> list[str]:
    """The names of the shmstruct segments in /dev/shm (Linux), sorted."""
    try:
        entries = os.listdir(SHM_DIRECTORY)
    except OSError:
        return []
    return sorted(entry[len(PREFIX) :] for entry in entries if entry.startswith(PREFIX))
