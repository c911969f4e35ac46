"""Shared blocks: one named POSIX shared-memory segment plus the lock that guards it.

Ownership: the process that creates a block owns its names (the segment's and the lock's). It
removes both when its last reference to the block goes away, or when it exits; multiprocessing's
resource tracker removes them if the owner is killed. Processes that attach (by unpickling an
instance) never remove anything. A mapping stays valid in every process that has it open, even
after the names are removed; only new attaches then fail.

Within one process each block is opened once: attaching to a block this process already has
returns the same object, so there is one mapping and one lock object (re-entry works across
proxies of the same block).
"""

from __future__ import annotations

import ctypes
import importlib
import itertools
import mmap
import os
import secrets
import sys
import weakref
from multiprocessing import resource_tracker, util
from typing import Any

import numpy as np

from ._errors import SharedMemoryGoneError
from ._lock import SharedLock

__all__ = ["SharedBlock", "NAME_PREFIX"]

try:  # CPython's own shm_open/shm_unlink, the ones multiprocessing.shared_memory uses (no type stubs).
    _posixshmem: Any = importlib.import_module("_posixshmem")
except ImportError as exc:  # pragma: no cover - Windows
    raise ImportError("shmstruct needs POSIX shared memory (Linux or macOS)") from exc

NAME_PREFIX = "shms_"
_MODE = 0o600

_open_blocks: weakref.WeakValueDictionary[str, SharedBlock] = weakref.WeakValueDictionary()


class _Names:
    """Unguessable block names: a random per-process prefix and a counter (one urandom call per
    process, not per block; a forked child draws its own prefix)."""

    prefix = ""
    counter = itertools.count()

    @classmethod
    def reseed(cls) -> None:
        cls.prefix = NAME_PREFIX + secrets.token_hex(6)
        cls.counter = itertools.count()


_Names.reseed()
os.register_at_fork(after_in_child=_Names.reseed)


def _new_name() -> str:
    # "/" + name + "_l" stays within macOS's 31 characters for the first 2**32 blocks of a process.
    return f"{_Names.prefix}{next(_Names.counter):x}"


def _lock_name(name: str) -> str:
    return f"/{name}_l"


class SharedBlock:
    """One mapped shared-memory segment and its lock.

    Attributes:
        name: The segment's name (without the leading ``/``); short enough for macOS.
        mmap: The mapping. numpy views hold it, so it stays mapped while any view exists.
        address: The mapping's start address.
        lock: The block's :class:`SharedLock`.
        size: The mapping's size in bytes.
    """

    __slots__ = ("name", "mmap", "address", "lock", "size", "_anchor", "__weakref__")

    def __init__(self, name: str, mapping: mmap.mmap, lock: SharedLock) -> None:
        self.name = name
        self.mmap = mapping
        self.size = len(mapping)
        self.lock = lock
        self._anchor = np.frombuffer(mapping, dtype=np.uint8)  # keeps a buffer export for the address
        self.address: int = self._anchor.ctypes.data
        _open_blocks[name] = self

    @classmethod
    def create(cls, size: int, pattern: bytes = b"") -> SharedBlock:
        """Create and map a new block of ``size`` bytes, owned by this process.

        The block is zero-filled, or filled with ``pattern`` repeated (a table's default row).
        """
        name = _new_name()
        fd = _posixshmem.shm_open("/" + name, os.O_CREAT | os.O_EXCL | os.O_RDWR, mode=_MODE)
        try:
            try:
                os.ftruncate(fd, max(size, 1))
                if pattern:
                    _fill(fd, size, pattern)
                mapping = mmap.mmap(fd, max(size, 1))
            finally:
                os.close(fd)
            lock = SharedLock.create(_lock_name(name))
        except BaseException:
            _posixshmem.shm_unlink("/" + name)
            raise
        _tell_tracker("REGISTER", name)
        block = cls(name, mapping, lock)
        # multiprocessing's registry keeps the finalizer; it runs when the block is collected or, at
        # exit, after multiprocessing has joined the children (negative priority).
        util.Finalize(block, _release_names, (name, os.getpid()), exitpriority=-10)
        return block

    @classmethod
    def attach(cls, name: str) -> SharedBlock:
        """Map the existing block ``name`` (or return this process's open one).

        Raises:
            SharedMemoryGoneError: No block of that name exists any more.
        """
        block = _open_blocks.get(name)
        if block is not None:
            return block
        try:
            fd = _posixshmem.shm_open("/" + name, os.O_RDWR, mode=_MODE)
        except FileNotFoundError:
            raise SharedMemoryGoneError(
                f"shared block {name!r} no longer exists: the process that created it has released it. "
                "Keep the creating object alive while other processes attach to it."
            ) from None
        try:
            mapping = mmap.mmap(fd, os.fstat(fd).st_size)
        finally:
            os.close(fd)
        try:
            lock = SharedLock.open(_lock_name(name))
        except FileNotFoundError:
            raise SharedMemoryGoneError(f"the lock of shared block {name!r} no longer exists") from None
        return cls(name, mapping, lock)

    def offset_of(self, obj: Any) -> int:
        """The byte offset of a ctypes object that lives in this block."""
        return ctypes.addressof(obj) - self.address


def _fill(fd: int, size: int, pattern: bytes) -> None:
    # Written through the descriptor, not the mapping: the kernel then allocates the pages without
    # one page fault per 4 KiB, and later reads map them 16 pages per fault. That halves the cost
    # of creating a large table with non-zero defaults (measured in benchmarks/bench_table.py).
    chunk = memoryview(pattern * -(-min(size, 1 << 20) // len(pattern)))
    offset = 0
    while offset < size:
        offset += os.pwrite(fd, chunk[: size - offset], offset)


def _tell_tracker(command: str, name: str) -> None:
    """(Un)register a block's two names with multiprocessing's resource tracker, which removes
    them if this process dies without doing so itself."""
    resources = (("/" + name, "shared_memory"), (_lock_name(name), "semaphore"))
    tracker = resource_tracker._resource_tracker
    if sys.version_info < (3, 14) and hasattr(tracker, "_fd"):
        # The public register() probes the tracker with an extra write before every message:
        # ~15 us a name, half the cost of creating a block. One probe and one write carry both
        # lines here, in the line format Python 3.8-3.13's tracker reads.
        tracker.ensure_running()
        lines = "".join(f"{command}:{resource}:{rtype}\n" for resource, rtype in resources)
        os.write(getattr(tracker, "_fd"), lines.encode("ascii"))
        return
    for resource, rtype in resources:  # pragma: no cover - Python 3.14+
        (resource_tracker.register if command == "REGISTER" else resource_tracker.unregister)(resource, rtype)


def _release_names(name: str, creator_pid: int) -> None:
    if os.getpid() != creator_pid:  # a forked child inherited the finalizer: not its to run
        return
    for unlink, resource in ((_posixshmem.shm_unlink, "/" + name), (SharedLock.unlink, _lock_name(name))):
        try:
            unlink(resource)
        except FileNotFoundError:
            pass
    _tell_tracker("UNREGISTER", name)
