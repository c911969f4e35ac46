"""Scalar fields: one C number, bool or character, read and written as a Python value.

``steps: int = 0``, ``level: shmstruct.int8 = 0``, ``legacy: Annotated[int, ctypes.c_int] = 0``,
``code: Annotated[int, "I"] = 0``. A read is ctypes' own C-level field read; a write of an exact
``int``, ``float`` or ``bool`` within range is checked and stored in C (the ``FieldSetter`` fast
path), anything else goes through the checks below. A type ctypes lacks (``float16``) is read
and written through its row's ``decode`` / ``encode`` hooks.
"""

from __future__ import annotations

import ctypes
import math
import operator
import sys
import types

from .._errors import FieldTypeError, FieldValueError, short_repr
from .._types import ScalarType, scalar_type_for_python, scalar_type_of, scalar_type_of_dtype
from ._base import Declaration, Field, annotated_if, ctypes_rejection, is_bool, is_ctypes_class, typing_if_imported

TYPE_CHECKING = False  # typing is for type checkers only: importing it costs a spawned child ~5 ms
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from ._base import Preparer, Store

__all__ = ["ScalarField"]


def _is_wchar(entry: dict[str, Any]) -> bool:
    dtype: str = entry["dtype"]  # a validated entry: one of the scalar table's dtypes
    return dtype[1:] == "U1"


_SUPPORTED = (
    "int, float, bool, a sized alias (shmstruct.int8 ... float64), Annotated[int, ctypes.c_int] or a type code "
    "such as Annotated[int, 'I'], str = text(n), NDArray[...] = array(shape), or a nested SharedStruct = nested()"
)


def _describe_unsupported(base: Any) -> str:
    typing = typing_if_imported()
    origin = typing.get_origin(base) if typing is not None else getattr(base, "__origin__", None)
    if isinstance(base, types.UnionType) or (typing is not None and origin is typing.Union):
        return (
            f"{base!r} cannot live in shared memory (a slot has one fixed type); "
            "store a sentinel value or add a bool field beside it"
        )
    if base in (list, dict, set, tuple) or origin in (list, dict, set, tuple):
        return f"{base!r} cannot live in shared memory (its size is not fixed); use array(shape) for fixed-size numbers"
    if base is bytes:
        return (
            "bytes needs a fixed size: use Annotated[bytes, ctypes.c_char] for one byte, "
            "text(n) or array((n,), np.uint8)"
        )
    if is_ctypes_class(base):
        row = scalar_type_of(base)
        if row is None:
            return ctypes_rejection(base)
        return (
            f"write Annotated[{row.python_type.__name__}, ctypes.{base.__name__}] so reads are typed as Python values"
        )
    if type(base).__name__ == "FieldInfo":
        return "put pydantic constraints in the annotation: Annotated[int, Field(ge=0)] = 0"
    return f"{base!r} cannot live in shared memory; supported are {_SUPPORTED}"


def _type_error(qualname: str, expected: str, value: Any) -> FieldTypeError:
    return FieldTypeError(f"{qualname} expects {expected}, got {type(value).__name__} {short_repr(value)}")


def range_error(qualname: str, row: ScalarType, value: Any) -> FieldValueError:
    """The error for a number outside a scalar type's range."""
    return FieldValueError(
        f"{qualname}: {short_repr(value)} is out of range for {row.c_name} (allowed {row.range_text})"
    )


def scalar_preparer(qualname: str, row: ScalarType) -> Preparer:
    """The checks for one value of type ``row`` (also an array's element type, and atomics)."""
    low: Any = row.low  # set for the int and float rows, the only ones that compare against them
    high: Any = row.high
    if row.python_type is int:

        def prepare_int(value: Any) -> int:
            if value.__class__ is int and low <= value <= high:  # the common case, checked at once
                return int(value)
            if is_bool(value):
                raise _type_error(qualname, "an int", value)
            try:
                number = operator.index(value)
            except TypeError:
                raise _type_error(qualname, "an int", value) from None
            if not low <= number <= high:
                raise range_error(qualname, row, value)
            return number

        return prepare_int
    if row.python_type is float:

        def prepare_float(value: Any) -> float:
            if value.__class__ is float and low <= value <= high:  # the common case (nan and inf go on)
                return float(value)
            import numbers  # not at import time: it is only needed here, off the common path

            if is_bool(value) or not isinstance(value, numbers.Real):
                raise _type_error(qualname, "a float", value)
            try:
                number = float(value)
            except OverflowError:
                raise range_error(qualname, row, value) from None
            if math.isfinite(number) and not low <= number <= high:
                raise range_error(qualname, row, value)
            return number

        return prepare_float
    if row.python_type is bool:

        def prepare_bool(value: Any) -> bool:
            if not is_bool(value):
                raise _type_error(qualname, "a bool", value)
            return bool(value)

        return prepare_bool
    single: Any = row.python_type  # bytes for c_char, str for c_wchar

    def prepare_char(value: Any) -> Any:
        if not isinstance(value, single):
            raise _type_error(qualname, f"a {single.__name__} of length 1", value)
        if len(value) != 1:
            raise FieldValueError(
                f"{qualname} holds exactly one character, got {short_repr(value)} (length {len(value)})"
            )
        return value

    return prepare_char


#: The bits of the NaN ``float("nan")`` becomes in a float of each size, which a hash holds as
#: plain ``nan``; any other NaN is ``nan:`` and its bits in hex.
_QUIET_NAN = {2: 0x7E00, 4: 0x7FC00000, 8: 0x7FF8000000000000}


def _hash_text(python_type: type, value: Any) -> bytes:
    """A scalar as a remote store's hash holds it: integers as Redis integers (so that server-side
    increments work), floats in their shortest exact spelling, bools as 0 / 1, characters as UTF-8."""
    if python_type is bool:
        return b"1" if value else b"0"
    if python_type is bytes:
        data: bytes = value
        return data
    if python_type is str:
        return str(value).encode("utf-8", "surrogatepass")
    return repr(value).encode("ascii")  # int: decimal; float: shortest round-trip ('nan', 'inf' too)


class _Decoded:
    """The attribute of a scalar whose type ctypes lacks: reads decode the stored bits."""

    def __init__(self, cfield: Any, decode: Any) -> None:
        self.cfield = cfield
        self.decode = decode

    def __get__(self, obj: Any, owner: type[Any] | None = None) -> Any:
        if obj is None:
            return self
        return self.decode(self.cfield.__get__(obj, owner))


class ScalarField(Field):
    """A scalar field: one value of a row of the scalar type table."""

    kind = "scalar"
    locked = False

    @classmethod
    def resolve(cls, declaration: Declaration) -> Field | None:
        """Every declaration no other kind claims ends here: a scalar, or a clear error."""
        row, base = declaration.storage, declaration.base
        if row is None:
            row = scalar_type_for_python(base)
            if row is None:
                raise declaration.fail(_describe_unsupported(base))
        if base is not row.python_type:
            raise declaration.fail(
                f"{row.ctype.__name__} stores {row.python_type.__name__} values, but the annotation says "
                f"{getattr(base, '__name__', base)}; write Annotated[{row.python_type.__name__}, ...]"
            )
        return cls(
            declaration.name, declaration.owner, declaration.annotation, row.ctype, row.c_name,
            default=declaration.default, scalar=row, constraints=declaration.constraints,
        )  # fmt: skip

    def preparer(self) -> Preparer:
        row = self.row
        prepare = self.with_constraints(scalar_preparer(self.qualname, row), row.python_type, check_stored=True)
        encode = row.encode
        if encode is None:
            return prepare

        def prepare_encoded(value: Any) -> Any:
            return encode(prepare(value))

        return prepare_encoded

    def storer(self, cfield: Any) -> Store:
        store: Store = cfield.__set__  # ctypes' own field
        return store

    def attribute(self, cfield: Any) -> Any:
        decode = self.row.decode
        return None if decode is None else _Decoded(cfield, decode)

    def fast_write(self, cfield: Any, store: Store) -> tuple[Any, Any, Any, type] | None:
        row = self.row
        if self.constraints or row.encode is not None or row.python_type not in (int, float, bool):
            return None
        return (cfield, row.low, row.high, row.python_type)

    def to_hash(self, base: int, prefix: str, out: dict[str, bytes]) -> None:
        row = self.row
        value = self.ctype.from_address(base + self.offset).value
        if row.decode is not None:
            value = row.decode(value)
        if row.python_type is float and value != value:  # 'nan' alone would lose the sign and payload
            bits = int.from_bytes(ctypes.string_at(base + self.offset, self.size), sys.byteorder)
            out[prefix + self.name] = b"nan" if bits == _QUIET_NAN.get(self.size) else b"nan:%x" % bits
            return
        out[prefix + self.name] = _hash_text(row.python_type, value)

    def from_hash(self, entries: Mapping[str, bytes | None], prefix: str = "") -> Any:
        raw = self.hash_entry(entries, prefix)
        python_type = self.row.python_type
        try:
            if python_type is bool:
                if raw not in (b"0", b"1"):
                    raise ValueError
                value: Any = raw == b"1"
            elif python_type is bytes:
                value = raw
            elif python_type is str:
                value = raw.decode("utf-8", "surrogatepass")
            elif raw.startswith(b"nan:"):  # a NaN with its sign and payload (see to_hash)
                bits = raw[4:]
                if not bits or bits.strip(b"0123456789abcdef"):
                    raise ValueError
                data = int(bits, 16).to_bytes(self.size, sys.byteorder)
                stored = self.ctype.from_buffer_copy(data).value
                value = stored if self.row.decode is None else self.row.decode(stored)
                if value == value:
                    raise ValueError
                self.checks(value)
                return value
            else:
                if b"_" in raw or raw != raw.strip():  # what int() and float() take, but to_hash never writes
                    raise ValueError
                value = python_type(raw.decode("ascii"))  # int("12"), float("-inf")
            encoded = self.checks(value)  # the field's own checks: range, length, constraints
        except (ValueError, TypeError, UnicodeDecodeError, OverflowError):
            raise ValueError(
                f"field {prefix + self.name!r} holds {short_repr(raw)}, not a value of its type {self.c_decl}"
            ) from None
        decode = self.row.decode
        return value if decode is None else decode(encoded)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "dtype": self.row.dtype_str}

    @classmethod
    def entry_dtype(cls, entry: dict[str, Any]) -> Any:
        import numpy as np

        dtype = entry["dtype"]
        if not isinstance(dtype, str) or scalar_type_of_dtype(dtype) is None:
            raise ValueError(f"field {entry['name']!r} has a dtype {dtype!r} that no scalar field stores")
        return np.dtype(dtype)

    @classmethod
    def item(cls, record: Any, entry: dict[str, Any]) -> Any:
        if _is_wchar(entry):  # its code, as an integer: numpy fails on a wchar_t that holds no character
            import numpy as np

            return record.getfield(np.dtype(f"{entry['dtype'][0]}u4"), entry["offset"])
        return record[entry["name"]]

    @classmethod
    def decode(cls, item: Any, entry: dict[str, Any], for_json: bool) -> Any:
        if _is_wchar(entry):
            code = int(item)
            return chr(code) if code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
        return super().decode(item, entry, for_json)

    def model_type(self) -> Any:
        python_type = self.row.python_type
        return annotated_if(python_type, self.constraints)
