"""The README's ``State`` schema (arrays, a nested struct and a pydantic constraint) and the child
functions that use it (importable by spawned children). In a module of its own because of the
constraint: importing pydantic adds about a tenth of a second to a child's start, and only the
children handed a ``State`` need it."""

from __future__ import annotations

import ctypes
import errno
import os
from typing import Annotated, Any

import numpy as np
from array_helpers import Vec3
from helpers import JOIN_TIMEOUT, Counter, unique_name
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


# --------------------------------------------------------------------------- errors across processes


def raise_library_error(kind: str) -> None:
    """Make shmstruct raise its error ``kind`` (a class name) here, the way a program meets it.
    Errors that no call can provoke safely (a full /dev/shm) or that are only ever bases or
    warnings are raised as the library constructs them."""
    name = unique_name(f"errors-{kind}-{os.getpid()}")
    if kind == "FieldValueError":
        State().level = 300
    elif kind == "FieldTypeError":
        State(steps="x")
    elif kind == "SchemaError":
        type(SharedStruct)("Bad", (SharedStruct,), {"__annotations__": {"items": list}, "__module__": __name__})
    elif kind == "SharedMemoryGoneError":
        shmstruct.attach(Counter, name)
    elif kind == "SegmentNameError":
        shmstruct.options(Counter, name="a/b")()
    elif kind == "LogFullError":
        log = shmstruct.log(Counter, capacity=1)
        log.append()
        log.append()
    elif kind in ("SegmentExistsError", "SchemaMismatchError", "SegmentError"):
        with shmstruct.options(Counter, name=name)():
            if kind == "SegmentExistsError":
                shmstruct.options(Counter, name=name)()
            elif kind == "SchemaMismatchError":
                shmstruct.attach(Vec3, name)
            else:
                shmstruct.Table.attach(name, Counter)
    elif kind == "SharedMemoryFullError":
        raise shmstruct.SharedMemoryFullError(errno.ENOSPC, "no room in /dev/shm for shared segment 'x'")
    elif kind == "DeadHolderWarning":
        raise shmstruct.DeadHolderWarning("the lock of shared block 'x' was taken over")
    elif kind == "ShmStructError":
        raise shmstruct.ShmStructError("base")
    raise AssertionError(f"no way to provoke {kind}")


def describe_exception(exc: BaseException) -> tuple[str, str, str, tuple[Any, ...]]:
    """What a process that unpickled ``exc`` sees: its class's module and name, message and args."""
    return type(exc).__module__, type(exc).__qualname__, str(exc), exc.args


def write_out_of_range(state: State) -> None:
    """A child whose uncaught error ends it (multiprocessing prints the traceback)."""
    state.level = 300
