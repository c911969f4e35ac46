"""The table of C scalar types a field can hold, the array-module type codes, and the sized aliases.

A scalar type is one :class:`ScalarType` row: everything the rest of the package needs about it
(its Python type, storage, C name, numpy dtype and value range). A type that ctypes has is stored
by its ctypes class, so a read is ctypes' own C-level field read. A type that ctypes lacks (IEEE
half precision, ``float16``) is stored in a ctypes integer of the same size, with ``encode`` and
``decode`` hooks between the Python value and the stored bits: adding one is one row.

Nothing here imports numpy: dtypes are kept as their numpy ``str`` spellings (``'<i8'``).
"""

from __future__ import annotations

import ctypes
import math
import struct
import sys
from collections.abc import Callable

from ._record import Record

TYPE_CHECKING = False  # typing is for type checkers only: importing it costs a spawned child ~5 ms
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "TYPE_CODES",
    "ScalarType",
    "c_float16",
    "scalar_type_for_python",
    "scalar_type_of",
]

_ORDER = "<" if sys.byteorder == "little" else ">"

FLOAT32_MAX: float = struct.unpack("<f", b"\xff\xff\x7f\x7f")[0]
#: The largest double that rounds to a finite float32 (FLOAT32_MAX plus just under half a unit in
#: the last place): C and numpy store anything up to it as FLOAT32_MAX.
FLOAT32_LIMIT = math.nextafter(FLOAT32_MAX + 2.0**103, 0.0)
FLOAT16_MAX = 65504.0
#: The same for half precision: values up to it round to FLOAT16_MAX, beyond it to inf.
FLOAT16_LIMIT = math.nextafter(FLOAT16_MAX + 16.0, 0.0)
DOUBLE_MAX = sys.float_info.max


class ScalarType(Record):
    """One row of the scalar type table.

    Attributes:
        ctype: The ctypes class that stores the value (for a type ctypes lacks, an integer type of
            the same size that holds its bits).
        python_type: What a read returns: ``int``, ``float``, ``bool``, ``bytes`` (``c_char``)
            or ``str`` (``c_wchar``).
        c_name: The C spelling shown in layout tables (``int8_t``, ``double``...).
        dtype_str: The numpy dtype with the same size and meaning, as numpy spells it (``'<i8'``).
        low: The smallest storable value (numbers only).
        high: The largest storable value (numbers only).
        encode: For a type ctypes lacks: the stored bits of a checked Python value.
        decode: For a type ctypes lacks: the Python value of stored bits.
        largest: The largest finite value, as messages show it (floats whose limit, the largest
            value that still rounds to a finite one, is not what users know as the maximum).
    """

    ctype: type[Any]
    python_type: type
    c_name: str
    dtype_str: str
    low: int | float | None = None
    high: int | float | None = None
    encode: Callable[[Any], Any] | None = None
    decode: Callable[[Any], Any] | None = None
    largest: float | None = None

    @property
    def dtype(self) -> Any:
        """The numpy dtype (imports numpy)."""
        import numpy as np

        return np.dtype(self.dtype_str)

    @property
    def size(self) -> int:
        """Bytes per value."""
        return ctypes.sizeof(self.ctype)

    @property
    def range_text(self) -> str:
        """The allowed range, as error messages show it."""
        if self.python_type is int:
            return f"{self.low}..{self.high}"
        if self.python_type is float:
            largest = self.largest if self.largest is not None else self.high
            return f"{-largest:g}..{largest:g} (or inf, -inf, nan)"  # type: ignore[operator]
        if self.python_type is bool:
            return "True or False"
        if self.python_type is bytes:
            return "a bytes object of length 1"
        return "a str of length 1"


def _integer_row(ctype: type[Any]) -> ScalarType:
    size = ctypes.sizeof(ctype)
    bits = size * 8
    signed = ctype(-1).value == -1
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    dtype_str = f"{'|' if size == 1 else _ORDER}{'i' if signed else 'u'}{size}"
    return ScalarType(ctype, int, f"{'' if signed else 'u'}int{bits}_t", dtype_str, low, high)


def _half_bits(value: float) -> int:
    bits: int = struct.unpack("=H", struct.pack("=e", value))[0]
    return bits


def _half_value(bits: int) -> float:
    value: float = struct.unpack("=e", struct.pack("=H", bits))[0]
    return value


class c_float16(ctypes.c_uint16):
    """IEEE 754 half precision, which ctypes lacks: a marker for ``Annotated[float, ...]`` (the alias
    ``shmstruct.float16``); the value is stored as its 16 bits in a ``c_uint16``."""


def _build_table() -> dict[type[Any], ScalarType]:
    table: dict[type[Any], ScalarType] = {}
    integers = (
        ctypes.c_byte, ctypes.c_ubyte, ctypes.c_short, ctypes.c_ushort, ctypes.c_int, ctypes.c_uint,
        ctypes.c_long, ctypes.c_ulong, ctypes.c_longlong, ctypes.c_ulonglong,
    )  # fmt: skip
    for ctype in integers:
        table[ctype] = _integer_row(ctype)
    table[ctypes.c_float] = ScalarType(ctypes.c_float, float, "float", f"{_ORDER}f4", -FLOAT32_LIMIT, FLOAT32_LIMIT)
    table[ctypes.c_double] = ScalarType(ctypes.c_double, float, "double", f"{_ORDER}f8", -DOUBLE_MAX, DOUBLE_MAX)
    table[c_float16] = ScalarType(  # stored as its bits, in a ctypes integer of its size
        ctypes.c_uint16, float, "_Float16", f"{_ORDER}f2", -FLOAT16_LIMIT, FLOAT16_LIMIT, _half_bits, _half_value,
        FLOAT16_MAX,
    )  # fmt: skip
    table[ctypes.c_bool] = ScalarType(ctypes.c_bool, bool, "bool", "|b1", False, True)
    table[ctypes.c_char] = ScalarType(ctypes.c_char, bytes, "char", "|S1")
    if ctypes.sizeof(ctypes.c_wchar) == 4:  # numpy's 'U1' is UCS-4: only then do the layouts agree
        table[ctypes.c_wchar] = ScalarType(ctypes.c_wchar, str, "wchar_t", f"{_ORDER}U1")
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

#: The rows of numpy dtypes, for array elements: ``'<f8'`` -> the double row.
_BY_DTYPE: dict[str, ScalarType] = {}
for _row in SCALAR_TYPES.values():
    _BY_DTYPE.setdefault(_row.dtype_str, _row)


def scalar_type_of(ctype: Any) -> ScalarType | None:
    """The table row of a ctypes class, or ``None`` when it cannot live in a schema."""
    try:
        return SCALAR_TYPES.get(ctype)
    except TypeError:  # unhashable metadata
        return None


def scalar_type_for_python(python_type: Any) -> ScalarType | None:
    """The row a bare ``int``, ``float`` or ``bool`` annotation stores, else ``None``."""
    ctype = _PYTHON_DEFAULTS.get(python_type) if isinstance(python_type, type) else None
    return None if ctype is None else SCALAR_TYPES[ctype]


def scalar_type_of_dtype(dtype_str: str) -> ScalarType | None:
    """The row of a numpy dtype spelling (``'<f8'``), or ``None``."""
    return _BY_DTYPE.get(dtype_str)
