"""The array spawn target of ``bench_startup.py``: a schema with an array field, for which the
child must import numpy."""

from __future__ import annotations

from multiprocessing.connection import Connection

import numpy as np
from _startup_bare import loaded
from numpy.typing import NDArray

import shmstruct
from shmstruct import SharedStruct, array


class Grid(SharedStruct):
    value: int = 0
    data: NDArray[np.float64] = array(1024)


def read(s: Grid, conn: Connection) -> None:
    """Read the struct it was handed (the int and one array element), signal, let go of it."""
    conn.send((s.value + int(s.data[0]), loaded()))
    conn.close()
    shmstruct.close(s)
