"""A segment's file in ``/dev/shm``: opened safely, known by its identity, read without mapping it.

Anyone on the machine can put anything in ``/dev/shm`` under a ``shms_`` name: a FIFO, a
directory, a symbolic link, a file of random bytes, a header that lies about its sizes. Nothing
here trusts the file: it is opened with ``O_NOFOLLOW | O_NONBLOCK`` (a link is refused, a FIFO
does not block), checked to be a regular file, and its header is read with bounded ``pread``
calls, never through a mapping, and fully validated (see :func:`shmstruct._header.parse_header`)
before anything maps it. A file that changes size while it is being read is refused, not
mapped.

A segment's identity is its file, not its name: a name can be removed and given to a new
segment (a service restarted with a fixed name). Every process that uses a block records the
file's (device, inode) and its header's creation stamp, and never removes or returns a block
whose name now points to another file.
"""

from __future__ import annotations

import errno
import os
import stat

from ._errors import SegmentError, SharedMemoryGoneError
from ._naming import PREFIX, check_name
from ._record import Record

__all__ = [
    "SHM_DIRECTORY",
    "Identity",
    "NotARegularFile",
    "gone",
    "identity_of",
    "name_points_to",
    "open_segment",
    "read_bytes",
    "unlink_if",
]

#: Where POSIX shared memory lives on Linux (``shm_open`` opens files here).
SHM_DIRECTORY = "/dev/shm"


class NotARegularFile(SegmentError):
    """A ``shms_`` entry that is a link, a FIFO, a directory or a device: never opened, never removed."""


class Identity(Record):
    """Which file a segment is: what its name pointed to when this process joined it."""

    device: int
    inode: int


def gone(name: str) -> SharedMemoryGoneError:
    """The error for a name that does not exist (any more)."""
    return SharedMemoryGoneError(
        f"no shared segment named {name!r}: it was never created, or every process using it has "
        "stopped and it was removed. Keep the creating object alive (or use keep=True) while others attach."
    )


def _what(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "not a regular file"


def open_segment(name: str, writable: bool = False) -> int:
    """Open segment ``name``'s file (read-only unless ``writable``) and return the descriptor.

    Raises:
        SegmentNameError: ``name`` is not a valid segment name.
        SharedMemoryGoneError: No such segment.
        SegmentError: It is a symbolic link, a FIFO, a directory or anything but a regular file.
        PermissionError: The caller may not open it that way.
    """
    check_name(name)
    flags = (os.O_RDWR if writable else os.O_RDONLY) | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(os.path.join(SHM_DIRECTORY, PREFIX + name), flags)
    except FileNotFoundError:
        raise gone(name) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotARegularFile(
                f"shared segment {name!r} is a symbolic link, not a shmstruct block: not following it"
            ) from None
        if exc.errno == errno.EISDIR:
            raise NotARegularFile(f"shared segment {name!r} is a directory, not a shmstruct block") from None
        if exc.errno in (errno.ENXIO, errno.ENODEV):
            raise NotARegularFile(f"shared segment {name!r} is a device or socket, not a shmstruct block") from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotARegularFile(f"shared segment {name!r} is {_what(mode)}, not a shmstruct block")
    except BaseException:
        os.close(fd)
        raise
    return fd


def identity_of(fd: int) -> Identity:
    """The identity of the file open as ``fd``."""
    info = os.fstat(fd)
    return Identity(info.st_dev, info.st_ino)


def name_points_to(name: str, identity: Identity) -> bool:
    """Whether ``name`` still names the file ``identity`` (not removed, not replaced)."""
    try:
        info = os.stat(os.path.join(SHM_DIRECTORY, PREFIX + name), follow_symlinks=False)
    except OSError:
        return False
    return (info.st_dev, info.st_ino) == (identity.device, identity.inode)


def read_bytes(fd: int, offset: int, length: int, name: str) -> bytes:
    """Exactly ``length`` bytes at ``offset`` of the file (``pread``, never a mapping: a file
    truncated meanwhile gives a short read here, not a SIGBUS).

    Raises:
        SegmentError: The file ends before that.
    """
    data = os.pread(fd, length, offset)
    if len(data) != length:
        raise SegmentError(f"shared segment {name!r} is truncated: it ends before byte {offset + length:,}")
    return data


def unlink_if(name: str, identity: Identity | None) -> None:
    """Remove segment name ``name`` if it still names the segment ``identity`` (any, if None): a
    name that now belongs to another segment (a restarted service's) is left alone."""
    if identity is not None and not name_points_to(name, identity):
        return
    try:
        os.unlink(os.path.join(SHM_DIRECTORY, PREFIX + name))
    except FileNotFoundError:
        pass
