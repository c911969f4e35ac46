"""The struct spawn target of ``bench_startup.py``: a schema without array fields. A child that
unpickles a ``Counter`` imports this module, hence shmstruct, but should need nothing heavier."""

from __future__ import annotations

from multiprocessing.connection import Connection

from _startup_bare import loaded

import shmstruct
from shmstruct import Atomic, SharedStruct, atomic, text


class Counter(SharedStruct):
    value: int = 0
    label: str = text(16)
    hits: Atomic[int] = atomic()


def read(s: Counter, conn: Connection) -> None:
    """Read the struct it was handed, signal with the value (and the modules held), let go of it."""
    conn.send((s.value, loaded()))
    conn.close()
    shmstruct.close(s)
