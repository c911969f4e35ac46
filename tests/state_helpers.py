"""The README's ``State`` schema (arrays, a nested struct and a pydantic constraint) and the child
functions that use it (importable by spawned children). In a module of its own because of the
constraint: importing pydantic adds about a tenth of a second to a child's start, and only the
children handed a ``State`` need it."""

from __future__ import annotations

import ctypes
from typing import Annotated, Any

import numpy as np
from array_helpers import Vec3
from helpers import JOIN_TIMEOUT
from numpy.typing import NDArray
from pydantic import Field

import shmstruct
from shmstruct import SharedStruct, array, nested, text


class State(SharedStruct):
    steps: int = 0
    level: shmstruct.int8 = 0
    legacy: Annotated[int, ctypes.c_int] = 0
    code: Annotated[int, "I"] = 0
    running: bool = True
    temperature: float = 20.0
    label: str = text(16)
    grid: NDArray[np.float64] = array((4, 3))
    origin: Vec3 = nested()
    budget: Annotated[int, Field(ge=0, le=100)] = 50


def put_back(queue_in: Any, queue_out: Any) -> None:
    """Take a State from one queue, change it under its lock, send it back on the other."""
    s = queue_in.get(timeout=JOIN_TIMEOUT)
    with s.lock:
        s.steps += 100
        s.grid[0, 0] = 7.0
    queue_out.put(s)


def sum_grid(s: State) -> float:
    return float(np.sum(s.grid))
