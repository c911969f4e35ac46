"""The table of C scalar types a field can hold, the array-module type codes, and the sized aliases.

A scalar type is accepted when it is one of the fixed-size ctypes types that
``multiprocessing.Value`` documents (or their sized aliases such as ``c_int8``, which are the
same classes). Everything about it that the rest of the package needs (its Python type, C name,
numpy dtype and value range) lives in one :class:`ScalarType` row.
"""

from __future__ import annotations

import ctypes
import sys
from dataclasses import dataclass
from typing import Annotated, Any, TypeAlias

import numpy as np

__all__ = [
    "TYPE_CODES",
    "ScalarType",
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "scalar_type_for_python",
    "scalar_type_of",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
]

FLOAT32_MAX = float(np.finfo(np.float32).max)
#: The largest double that rounds to a finite float32 (FLOAT32_MAX plus just under half a unit in
#: the last place): C and numpy store anything up to it as FLOAT32_MAX.
FLOAT32_LIMIT = float(np.nextafter(FLOAT32_MAX + 2.0**103, 0.0))
DOUBLE_MAX = sys.float_info.max


@dataclass(frozen=True)
class ScalarType:
    """One row of the scalar type table.

    Attributes:
        ctype: The ctypes class that stores the value.
        python_type: What a read returns: ``int``, ``float``, ``bool``, ``bytes`` (``c_char``)
            or ``str`` (``c_wchar``).
        c_name: The C spelling shown in layout tables (``int8_t``, ``double``...).
        dtype: The numpy dtype with the same size and meaning.
        low: The smallest storable value (numbers only).
        high: The largest storable value (numbers only).
    """

    ctype: type[Any]
    python_type: type
    c_name: str
    dtype: np.dtype[Any]
    low: int | float | None = None
    high: int | float | None = None

    @property
    def range_text(self) -> str:
        """The allowed range, as error messages show it."""
        if self.python_type is int:
            return f"{self.low}..{self.high}"
        if self.python_type is float:
            return f"{self.low:g}..{self.high:g} (or inf, -inf, nan)"
        if self.python_type is bool:
            return "True or False"
        if self.python_type is bytes:
            return "a bytes object of length 1"
        return "a str of length 1"


def _integer_row(ctype: type[Any]) -> ScalarType:
    bits = ctypes.sizeof(ctype) * 8
    signed = ctype(-1).value == -1
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    return ScalarType(ctype, int, f"{'' if signed else 'u'}int{bits}_t", np.dtype(ctype), low, high)


def _build_table() -> dict[type[Any], ScalarType]:
    table: dict[type[Any], ScalarType] = {}
    integers = (
        ctypes.c_byte, ctypes.c_ubyte, ctypes.c_short, ctypes.c_ushort, ctypes.c_int, ctypes.c_uint,
        ctypes.c_long, ctypes.c_ulong, ctypes.c_longlong, ctypes.c_ulonglong,
    )  # fmt: skip
    for ctype in integers:
        table[ctype] = _integer_row(ctype)
    table[ctypes.c_float] = ScalarType(
        ctypes.c_float, float, "float", np.dtype(np.float32), -FLOAT32_LIMIT, FLOAT32_LIMIT
    )
    table[ctypes.c_double] = ScalarType(ctypes.c_double, float, "double", np.dtype(np.float64), -DOUBLE_MAX, DOUBLE_MAX)
    table[ctypes.c_bool] = ScalarType(ctypes.c_bool, bool, "bool", np.dtype(np.bool_), False, True)
    table[ctypes.c_char] = ScalarType(ctypes.c_char, bytes, "char", np.dtype("S1"))
    if ctypes.sizeof(ctypes.c_wchar) == 4:  # numpy's 'U1' is UCS-4: only then do the layouts agree
        table[ctypes.c_wchar] = ScalarType(ctypes.c_wchar, str, "wchar_t", np.dtype("U1"))
    return table


SCALAR_TYPES: dict[type[Any], ScalarType] = _build_table()

#: The array-module type codes that ``multiprocessing.Value`` accepts, mapped to ctypes types.
TYPE_CODES: dict[str, type[Any]] = {
    "b": ctypes.c_byte, "B": ctypes.c_ubyte, "h": ctypes.c_short, "H": ctypes.c_ushort,
    "i": ctypes.c_int, "I": ctypes.c_uint, "l": ctypes.c_long, "L": ctypes.c_ulong,
    "q": ctypes.c_longlong, "Q": ctypes.c_ulonglong, "f": ctypes.c_float, "d": ctypes.c_double,
    "c": ctypes.c_char, "u": ctypes.c_wchar,
}  # fmt: skip

#: What a bare Python annotation stores.
_PYTHON_DEFAULTS: dict[type, type[Any]] = {int: ctypes.c_int64, float: ctypes.c_double, bool: ctypes.c_bool}


def scalar_type_of(ctype: type[Any]) -> ScalarType | None:
    """The table row of a ctypes class, or ``None`` when it cannot live in a schema."""
    try:
        return SCALAR_TYPES.get(ctype)
    except TypeError:  # unhashable metadata
        return None


def scalar_type_for_python(python_type: Any) -> ScalarType | None:
    """The row a bare ``int``, ``float`` or ``bool`` annotation stores, else ``None``."""
    ctype = _PYTHON_DEFAULTS.get(python_type) if isinstance(python_type, type) else None
    return None if ctype is None else SCALAR_TYPES[ctype]


int8: TypeAlias = Annotated[int, ctypes.c_int8]
int16: TypeAlias = Annotated[int, ctypes.c_int16]
int32: TypeAlias = Annotated[int, ctypes.c_int32]
int64: TypeAlias = Annotated[int, ctypes.c_int64]
uint8: TypeAlias = Annotated[int, ctypes.c_uint8]
uint16: TypeAlias = Annotated[int, ctypes.c_uint16]
uint32: TypeAlias = Annotated[int, ctypes.c_uint32]
uint64: TypeAlias = Annotated[int, ctypes.c_uint64]
float32: TypeAlias = Annotated[float, ctypes.c_float]
float64: TypeAlias = Annotated[float, ctypes.c_double]
