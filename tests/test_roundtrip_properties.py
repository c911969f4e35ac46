"""Property tests: every scalar type round-trips at and inside its bounds and rejects just outside."""

from __future__ import annotations

import ctypes
import math
from typing import Annotated, Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shmstruct import FieldValueError, SharedStruct, fields

INTEGER_CTYPES = [
    ctypes.c_byte, ctypes.c_ubyte, ctypes.c_short, ctypes.c_ushort, ctypes.c_int, ctypes.c_uint,
    ctypes.c_long, ctypes.c_ulong, ctypes.c_longlong, ctypes.c_ulonglong,
]  # fmt: skip


def schema_for(annotation: Any) -> Any:
    return type(SharedStruct)("One", (SharedStruct,), {"__annotations__": {"v": annotation}, "__module__": __name__})


INTEGER_SCHEMAS = {ctype: schema_for(Annotated[int, ctype]) for ctype in INTEGER_CTYPES}


def bounds(ctype: Any) -> tuple[int, int]:
    bits = ctypes.sizeof(ctype) * 8
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if ctype(-1).value == -1 else (0, 2**bits - 1)


@pytest.mark.parametrize("ctype", INTEGER_CTYPES, ids=lambda c: c.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_integers_round_trip_and_reject_outside(ctype: Any, data: st.DataObject) -> None:
    low, high = bounds(ctype)
    schema = INTEGER_SCHEMAS[ctype]
    s = schema(v=low)
    value = data.draw(st.one_of(st.integers(low, high), st.sampled_from([low, high, 0 if low == 0 else -1])))
    s.v = value
    assert s.v == value
    outside = data.draw(
        st.one_of(st.integers(max_value=low - 1), st.integers(min_value=high + 1), st.sampled_from([low - 1, high + 1]))
    )
    with pytest.raises(FieldValueError, match=f"One.v: {outside} is out of range"):
        s.v = outside
    assert s.v == value
    assert fields(schema)[0].dtype == np.dtype(ctype)


DOUBLE = schema_for(float)
SINGLE = schema_for(Annotated[float, ctypes.c_float])
FLAG = schema_for(bool)
FLOAT32_MAX = float(np.finfo(np.float32).max)
FLOAT32_LIMIT = float(np.nextafter(FLOAT32_MAX + 2.0**103, 0.0))  # the largest double that rounds to a finite single


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_double_round_trips_every_float(value: float) -> None:
    s = DOUBLE(v=value)
    assert s.v == value or (math.isnan(value) and math.isnan(s.v))


@settings(max_examples=200, deadline=None)
@given(st.floats(-FLOAT32_LIMIT, FLOAT32_LIMIT) | st.sampled_from([FLOAT32_LIMIT, -FLOAT32_LIMIT, 3.4028235e38]))
def test_float32_stores_the_nearest_single(value: float) -> None:
    s = SINGLE(v=value)
    assert s.v == float(np.float32(value)) and math.isfinite(s.v)


@settings(max_examples=100, deadline=None)
@given(st.floats(min_value=FLOAT32_LIMIT, exclude_min=True, allow_infinity=False), st.booleans())
def test_float32_rejects_finite_overflow(magnitude: float, negative: bool) -> None:
    s = SINGLE(v=1.0)
    with pytest.raises(FieldValueError, match="out of range for float"):
        s.v = -magnitude if negative else magnitude
    assert s.v == 1.0


@given(st.booleans())
def test_bool_round_trip(value: bool) -> None:
    s = FLAG(v=not value)
    s.v = value
    assert s.v is value
