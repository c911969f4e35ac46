"""The bare spawn target of ``bench_startup.py``: nothing of shmstruct (or numpy) is imported here,
so that a child started with it pays only for the interpreter and ``multiprocessing``."""

from __future__ import annotations

import sys
from multiprocessing.connection import Connection

HEAVY = ("numpy", "pydantic", "typing", "typing_extensions", "ctypes", "multiprocessing")


def loaded() -> tuple[bool, ...]:
    """Which of ``HEAVY`` this process has imported."""
    return tuple(name in sys.modules for name in HEAVY)


def bare(conn: Connection) -> None:
    """Signal that the child runs (with the modules it holds), and exit."""
    conn.send((None, loaded()))
    conn.close()
