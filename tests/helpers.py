"""Schemas and child-process functions the tests share (importable by spawned children)."""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.context import BaseContext
from typing import Annotated, Any

import numpy as np
from numpy.typing import NDArray
from pydantic import Field

import shmstruct
from shmstruct import SharedStruct, array, nested, text

JOIN_TIMEOUT = 60.0


class Vec3(SharedStruct):
    x: float = 0.0
    y: float = 0.0
    z: float = 0.0


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


class Counter(SharedStruct):
    value: int = 0


class EveryType(SharedStruct):
    """One field of every scalar type of multiprocessing.Value's table, plus text and arrays."""

    b: Annotated[int, ctypes.c_byte] = -3
    ub: Annotated[int, ctypes.c_ubyte] = 3
    h: Annotated[int, ctypes.c_short] = -300
    uh: Annotated[int, ctypes.c_ushort] = 300
    i: Annotated[int, ctypes.c_int] = -70000
    ui: Annotated[int, ctypes.c_uint] = 70000
    l: Annotated[int, ctypes.c_long] = -(2**40)  # noqa: E741
    ul: Annotated[int, ctypes.c_ulong] = 2**40
    q: Annotated[int, ctypes.c_longlong] = -(2**50)
    uq: Annotated[int, ctypes.c_ulonglong] = 2**50
    f: Annotated[float, ctypes.c_float] = 1.5
    d: Annotated[float, ctypes.c_double] = 2.25
    flag: Annotated[bool, ctypes.c_bool] = False
    c: Annotated[bytes, ctypes.c_char] = b"a"
    u: Annotated[str, ctypes.c_wchar] = "x"
    words: str = text(32, "hello")
    samples: NDArray[np.int32] = array(5)
    matrix: NDArray[np.float64] = array((2, 3))
    where: Vec3 = nested(x=1.0, y=2.0, z=3.0)


def double_every_field(s: EveryType) -> None:
    """CPython's test_sharedctypes `_double`, for every type: the child doubles each value."""
    with s.lock:
        for name in ("b", "ub", "h", "uh", "i", "ui", "l", "ul", "q", "uq", "f", "d"):
            setattr(s, name, getattr(s, name) * 2)
        s.flag = not s.flag
        s.c = b"b"
        s.u = "y"
        s.words = s.words * 2
        s.samples[:] *= 2
        s.matrix *= 2
        s.where.x *= 2
        s.where.y *= 2
        s.where.z *= 2


def increment(counter: Counter, times: int) -> None:
    for _ in range(times):
        with counter.lock:
            counter.value += 1


_initialized: Any = None


def remember(obj: Any) -> None:
    """A pool initializer: keep the struct the parent handed over."""
    global _initialized
    _initialized = obj


def add_to_remembered(amount: int) -> int:
    """A pool task: add under the shared lock to the struct the initializer received."""
    with _initialized.lock:
        _initialized.value += amount
        return int(_initialized.value)


def finish(process: Any) -> None:
    """Join a started child (killing it after JOIN_TIMEOUT) and require a clean exit."""
    process.join(JOIN_TIMEOUT)
    if process.is_alive():
        process.kill()
        process.join()
        raise AssertionError(f"child {process.name} did not finish in {JOIN_TIMEOUT}s")
    assert process.exitcode == 0, f"child {process.name} exited with {process.exitcode}"


def run_child(ctx: BaseContext, target: Any, *args: Any) -> None:
    """Run ``target(*args)`` in a child of ``ctx`` and require a clean exit."""
    process = ctx.Process(target=target, args=args)
    process.start()
    finish(process)


@contextmanager
def running_child(ctx: BaseContext, target: Any, *args: Any, stop: Any) -> Iterator[Any]:
    """Run ``target(*args)`` in a child while the ``with`` body runs; then set ``stop`` and finish it."""
    process = ctx.Process(target=target, args=args)
    process.start()
    try:
        yield process
    finally:
        stop.set()
        finish(process)


class Pair(SharedStruct):
    a: int = 0
    b: int = 0
    word: str = text(64)
    block: NDArray[np.int64] = array(256)


def keep_writing(pair: Pair, started: Any, stop: Any) -> None:
    """Alternate whole-value writes until told to stop: text, whole arrays and update()."""
    i = 0
    while not stop.is_set():
        i += 1
        pair.word = ("ab"[i % 2]) * (32 + i % 32)
        pair.block = np.full(256, i, dtype=np.int64)
        pair.update(a=i, b=-i)
        if i == 1:
            started.set()
