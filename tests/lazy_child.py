"""A spawn target for ``test_lazy_imports``: it imports shmstruct and nothing heavier, so a child
that unpickles a ``Counter`` imports only what unpickling a struct needs."""

from __future__ import annotations

import sys
from multiprocessing.connection import Connection

import shmstruct
from shmstruct import Atomic, SharedStruct, atomic, text

#: Modules no process should import only because it uses a struct without array fields.
HEAVY = ("numpy", "pydantic", "typing", "typing_extensions", "dataclasses", "inspect", "json", "hashlib", "redis")


class Counter(SharedStruct):
    value: int = 0
    label: str = text(16)
    hits: Atomic[int] = atomic()


def heavy_loaded() -> list[str]:
    """Which of :data:`HEAVY` this process has imported."""
    return sorted(name for name in HEAVY if name in sys.modules)


def report(s: Counter, conn: Connection) -> None:
    """(In the child.) Send the struct's value and the heavy modules held, then let go of it."""
    conn.send((s.value, heavy_loaded()))
    conn.close()
    shmstruct.close(s)
