"""The sized scalar aliases: ``shmstruct.int8`` is ``Annotated[int, ctypes.c_int8]``, and so on.

They live apart from the scalar type table (:mod:`shmstruct._types`) because building them
imports :mod:`typing`, which a process that only attaches to a struct does not need (it costs a
spawned child about 5 ms): ``shmstruct`` loads this module when one of them is first used.
"""

from __future__ import annotations

import ctypes
from typing import Annotated, TypeAlias

from ._types import c_float16

__all__ = [
    "float16",
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
]

int8: TypeAlias = Annotated[int, ctypes.c_int8]
int16: TypeAlias = Annotated[int, ctypes.c_int16]
int32: TypeAlias = Annotated[int, ctypes.c_int32]
int64: TypeAlias = Annotated[int, ctypes.c_int64]
uint8: TypeAlias = Annotated[int, ctypes.c_uint8]
uint16: TypeAlias = Annotated[int, ctypes.c_uint16]
uint32: TypeAlias = Annotated[int, ctypes.c_uint32]
uint64: TypeAlias = Annotated[int, ctypes.c_uint64]
float16: TypeAlias = Annotated[float, c_float16]
float32: TypeAlias = Annotated[float, ctypes.c_float]
float64: TypeAlias = Annotated[float, ctypes.c_double]
