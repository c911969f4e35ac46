"""Checked writes: each field gets a preparer that turns a user value into exactly what is stored.

A preparer either returns the value to store (an int, float, bool, 1-byte bytes or 1-char str for
scalars; padded UTF-8 bytes for text; a C-contiguous array of the field's dtype for arrays) or
raises :class:`FieldTypeError` / :class:`FieldValueError` naming the field, the value and what is
allowed. Nothing is written before every value of a write has been prepared, so a rejected write
changes nothing.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from ._errors import FieldTypeError, FieldValueError, short_repr
from ._fields import Field, annotated
from ._types import ScalarType

__all__ = [
    "Preparer",
    "array_preparer",
    "decode_text",
    "scalar_preparer",
    "short_repr",
    "text_preparer",
    "with_constraints",
]

Preparer = Callable[[Any], Any]


def _type_error(field: Field, expected: str, value: Any) -> FieldTypeError:
    return FieldTypeError(f"{field.qualname} expects {expected}, got {type(value).__name__} {short_repr(value)}")


def _range_error(field: Field, row: ScalarType, value: Any) -> FieldValueError:
    return FieldValueError(
        f"{field.qualname}: {short_repr(value)} is out of range for {row.c_name} (allowed {row.range_text})"
    )


def scalar_preparer(field: Field, row: ScalarType) -> Preparer:
    """The checks for one scalar field of type ``row``."""
    low: Any = row.low  # set for the int and float rows, the only ones that compare against them
    high: Any = row.high
    if row.python_type is int:

        def prepare_int(value: Any) -> int:
            if value.__class__ is int and low <= value <= high:  # the common case, checked at once
                return int(value)
            if isinstance(value, (bool, np.bool_)):
                raise _type_error(field, "an int", value)
            try:
                number = operator.index(value)
            except TypeError:
                raise _type_error(field, "an int", value) from None
            if not low <= number <= high:
                raise _range_error(field, row, value)
            return number

        return prepare_int
    if row.python_type is float:

        def prepare_float(value: Any) -> float:
            if value.__class__ is float and low <= value <= high:  # the common case (nan and inf go on)
                return float(value)
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
                raise _type_error(field, "a float", value)
            try:
                number = float(value)
            except OverflowError:
                raise _range_error(field, row, value) from None
            if math.isfinite(number) and not low <= number <= high:
                raise _range_error(field, row, value)
            return number

        return prepare_float
    if row.python_type is bool:

        def prepare_bool(value: Any) -> bool:
            if not isinstance(value, (bool, np.bool_)):
                raise _type_error(field, "a bool", value)
            return bool(value)

        return prepare_bool
    single: Any = row.python_type  # bytes for c_char, str for c_wchar

    def prepare_char(value: Any) -> Any:
        if not isinstance(value, single):
            raise _type_error(field, f"a {single.__name__} of length 1", value)
        if len(value) != 1:
            raise FieldValueError(
                f"{field.qualname} holds exactly one character, got {short_repr(value)} (length {len(value)})"
            )
        return value

    return prepare_char


def text_preparer(field: Field) -> Preparer:
    """The checks for a text field: a str without NUL of at most ``max_bytes`` UTF-8 bytes."""
    capacity = field.max_bytes or 0

    def prepare_text(value: Any) -> bytes:
        if not isinstance(value, str):
            raise _type_error(field, "a str", value)
        try:
            data = value.encode("utf-8")
        except UnicodeEncodeError:
            raise FieldValueError(f"{field.qualname}: {short_repr(value)} cannot be encoded as UTF-8") from None
        if len(data) > capacity:
            raise FieldValueError(
                f"{field.qualname}: {short_repr(value)} is {len(data)} UTF-8 bytes; the field holds at most "
                f"{capacity} (declared text({capacity}))"
            )
        if b"\0" in data:
            raise FieldValueError(
                f"{field.qualname}: text cannot contain NUL characters ('\\x00'), got {short_repr(value)}"
            )
        return data.ljust(capacity, b"\0")

    return prepare_text


def decode_text(stored: bytes) -> str:
    """The str a text field holds: the inverse of ``text_preparer`` (UTF-8 up to the first NUL).

    Bytes written through a raw numpy view may not be UTF-8; they read as U+FFFD, never an error.
    """
    return stored.split(b"\0", 1)[0].decode("utf-8", "replace")


def array_preparer(field: Field) -> Preparer:
    """The checks for an array field: the declared shape, and values the dtype holds exactly in range."""
    target: np.dtype[Any] = field.dtype.base
    shape = field.shape

    def prepare_array(value: Any) -> np.ndarray[Any, Any]:
        try:
            source = np.asarray(value)
        except (ValueError, TypeError) as exc:
            raise FieldValueError(
                f"{field.qualname}: {short_repr(value)} is not an array of shape {shape}: {exc}"
            ) from None
        if source.shape != shape:
            raise FieldValueError(f"{field.qualname}: got shape {source.shape}, the field's shape is {shape}")
        if source.dtype != target:
            _check_cast(field, source, target)
        return np.ascontiguousarray(source, dtype=target)

    return prepare_array


def _check_cast(field: Field, source: np.ndarray[Any, Any], target: np.dtype[Any]) -> None:
    kinds = source.dtype.kind + target.kind
    integers = kinds in ("ii", "iu", "ui", "uu")  # any width and sign: the range check below decides
    if (source.dtype.kind == "b") != (target.kind == "b") or not (
        integers or np.can_cast(source.dtype, target, casting="same_kind")
    ):
        raise FieldTypeError(
            f"{field.qualname}: cannot store {source.dtype} values in a {target} array without changing them"
        )
    if source.size == 0:
        return
    if target.kind in "iu" and source.dtype.kind in "iu":
        info = np.iinfo(target)
        low, high = source.min(), source.max()
        if low < info.min or high > info.max:
            raise FieldValueError(
                f"{field.qualname}: values {low}..{high} are out of range for {target} (allowed {info.min}..{info.max})"
            )
    if target.kind == "f" and source.dtype.kind == "f":
        finite = source[np.isfinite(source)]
        limit = np.finfo(target).max
        if finite.size and np.abs(finite).max() > limit:
            raise FieldValueError(f"{field.qualname}: values beyond ±{limit:g} would become inf in a {target} array")


def with_constraints(field: Field, prepare: Preparer) -> Preparer:
    """Add the field's user constraints (pydantic ``Field``, annotated-types) after ``prepare``."""
    if not field.constraints:
        return prepare
    from pydantic import TypeAdapter, ValidationError  # imported only by schemas with constraints

    python_type = str if field.kind == "text" else field.scalar.python_type  # type: ignore[union-attr]
    adapter: TypeAdapter[Any] = TypeAdapter(annotated(python_type, field.constraints))

    def prepare_constrained(value: Any) -> Any:
        stored = prepare(value)
        try:
            adapter.validate_python(value if field.kind == "text" else stored, strict=True)
        except ValidationError as exc:
            reasons = "; ".join(error["msg"] for error in exc.errors())
            raise FieldValueError(f"{field.qualname}: {short_repr(value)} is not allowed: {reasons}") from exc
        return stored

    return prepare_constrained
