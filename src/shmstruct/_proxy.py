"""Finding the block behind a proxy: what every field kind's runtime needs.

A proxy is a ctypes structure mapped over a block. The top-level proxy (a struct, or one row of a
table or log) holds its block and lock in its ``__dict__``; a nested struct's proxy is ctypes' own
sub-structure object, which points to its parent through ``_b_base_``.
"""

from __future__ import annotations

import ctypes

TYPE_CHECKING = False  # typing is for type checkers only: importing it costs a spawned child ~5 ms
if TYPE_CHECKING:
    from typing import Any

    from ._block import SharedBlock
    from ._lock import SharedLock

__all__ = ["block_of", "lock_of", "locked_bytes", "root_dict"]


def root_dict(obj: Any) -> dict[str, Any]:
    """The ``__dict__`` of the proxy that holds the block (nested proxies point to their parent).

    Raises:
        RuntimeError: ``obj`` is not in shared memory (a private image being built).
    """
    while True:
        state: dict[str, Any] = obj.__dict__
        if "_block_" in state:
            return state
        obj = obj._b_base_
        if obj is None:
            raise RuntimeError("this struct is not attached to shared memory")


def lock_of(obj: Any) -> SharedLock:
    """The lock of the block ``obj`` lives in."""
    lock: SharedLock = root_dict(obj)["lock"]
    return lock


def block_of(obj: Any) -> SharedBlock:
    """The block ``obj`` lives in."""
    block: SharedBlock = root_dict(obj)["_block_"]
    return block


def locked_bytes(obj: Any, size: int) -> bytes:
    """The first ``size`` bytes of a proxy, copied under its block's lock (one consistent moment)."""
    with lock_of(obj):
        return ctypes.string_at(ctypes.addressof(obj), size)
