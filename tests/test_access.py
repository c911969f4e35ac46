"""Reading and writing fields: values, views, checked writes that change nothing when rejected."""

from __future__ import annotations

import copy
import ctypes
import json
from typing import Annotated, Any

import annotated_types
import numpy as np
import pydantic
import pytest
from array_helpers import EveryType, Vec3
from numpy.typing import NDArray
from state_helpers import State

import shmstruct
from shmstruct import FieldTypeError, FieldValueError, SharedStruct, ShmStructError, array, nested, text


def test_defaults_and_constructor_values() -> None:
    s = State(steps=1, label="warm-up")
    assert (s.steps, s.level, s.running, s.temperature, s.label, s.budget) == (1, 0, True, 20.0, "warm-up", 50)
    assert s.grid.shape == (4, 3) and s.grid.dtype == np.float64 and not s.grid.any()
    assert (s.origin.x, s.origin.y, s.origin.z) == (0.0, 0.0, 0.0)
    assert type(s.steps) is int and type(s.running) is bool and type(s.temperature) is float


def test_issue_example_runs() -> None:
    s = State(steps=1, label="warm-up")
    with s.lock:
        s.steps += 1
    s.grid[:, 0] = 1.0
    snap = s.snapshot()
    s.update(steps=10, running=False)
    assert snap.steps == 2 and snap.grid[:, 0].tolist() == [1.0] * 4
    assert (s.steps, s.running) == (10, False)


def test_each_instance_has_its_own_block() -> None:
    a, b = State(), State()
    a.steps = 5
    a.grid[0, 0] = 1.0
    assert b.steps == 0 and b.grid[0, 0] == 0.0
    assert a.lock is not b.lock


@pytest.mark.parametrize(
    ("name", "value", "error", "message"),
    [
        ("level", 300, FieldValueError, r"State\.level: 300 is out of range for int8_t \(allowed -128\.\.127\)"),
        ("level", -129, FieldValueError, "out of range"),
        ("code", -1, FieldValueError, r"allowed 0\.\.4294967295"),
        ("steps", 2**63, FieldValueError, "out of range for int64_t"),
        ("steps", "1", FieldTypeError, r"State\.steps expects an int, got str '1'"),
        ("steps", 1.0, FieldTypeError, "expects an int, got float"),
        ("steps", True, FieldTypeError, "got bool"),
        ("running", 1, FieldTypeError, "expects a bool, got int"),
        ("temperature", "hot", FieldTypeError, "expects a float"),
        ("temperature", 10**400, FieldValueError, "out of range for double"),
        ("label", "x" * 17, FieldValueError, r"17 UTF-8 bytes; the field holds at most 16"),
        ("label", "é" * 9, FieldValueError, "18 UTF-8 bytes"),
        ("label", "a\0b", FieldValueError, "NUL"),
        ("label", 5, FieldTypeError, "expects a str"),
        (
            "budget",
            101,
            FieldValueError,
            r"State\.budget: 101 is not allowed: Input should be less than or equal to 100",
        ),
        ("budget", -1, FieldValueError, "greater than or equal to 0"),
        ("grid", np.zeros(3), FieldValueError, r"got shape \(3,\), the field's shape is \(4, 3\)"),
        ("grid", [["a"] * 3] * 4, FieldTypeError, "cannot store"),
        ("origin", 5, FieldTypeError, "expects a Vec3"),
        ("origin", {"x": "far"}, FieldTypeError, r"State\.origin: Vec3\.x expects a float"),
        ("origin", {"w": 1.0}, FieldTypeError, "no field 'w'"),
    ],
)
def test_rejected_writes_raise_and_change_nothing(name: str, value: Any, error: type[Exception], message: str) -> None:
    s = State(steps=3, level=4, label="keep", budget=7)
    s.grid[:] = 2.0
    s.origin.x = 1.5
    before = s.snapshot().model_dump()
    with pytest.raises(error, match=message):
        setattr(s, name, value)
    with pytest.raises(error):
        s.update(**{"steps": 9, name: value})  # the valid part is not written either
    with pytest.raises(error):
        State(**{name: value})
    after = s.snapshot().model_dump()
    assert json.dumps(after, default=str) == json.dumps(before, default=str)
    assert s.steps == 3


def test_errors_are_builtin_types_and_one_hierarchy() -> None:
    s = State()
    with pytest.raises(ValueError):
        s.level = 1000
    with pytest.raises(TypeError):
        s.level = "x"
    with pytest.raises(ShmStructError):
        s.level = 1000


def test_float32_overflow_is_rejected_but_inf_and_nan_are_stored() -> None:
    class F(SharedStruct):
        x: shmstruct.float32 = 0.0

    s = F()
    with pytest.raises(FieldValueError, match="out of range for float"):
        s.x = 1e39
    assert s.x == 0.0
    s.x = float("inf")
    assert s.x == float("inf")
    s.x = float("nan")
    assert s.x != s.x
    s.x = 0.1
    assert s.x == pytest.approx(0.1, rel=1e-7)
    s.x = 3.4028235e38  # numpy prints float32's max like this: it rounds to it, as in C
    assert s.x == float(np.finfo(np.float32).max)


def test_numpy_scalars_are_accepted_and_checked() -> None:
    s = EveryType()
    s.i = np.int64(5)
    s.d = np.float32(0.5)
    s.flag = np.bool_(True)
    assert (s.i, s.d, s.flag) == (5, 0.5, True)
    with pytest.raises(FieldValueError):
        s.b = np.int64(200)


def test_char_fields() -> None:
    s = EveryType()
    s.c = b"z"
    s.u = "é"
    assert (s.c, s.u) == (b"z", "é")
    with pytest.raises(FieldValueError, match="exactly one character"):
        s.c = b"zz"
    with pytest.raises(FieldTypeError):
        s.c = "z"
    assert s.c == b"z"


def test_undeclared_attributes_are_rejected() -> None:
    s = State()
    with pytest.raises(AttributeError, match="State has no field 'stpes'; its fields are: steps, level"):
        s.stpes = 1  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        s.lock = None  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del s.steps


def test_constructor_errors() -> None:
    with pytest.raises(TypeError, match="no field 'stpes'"):
        State(stpes=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="keyword arguments only"):
        State(1)  # type: ignore[misc]

    class Required(SharedStruct):
        x: int
        y: int = 0

    with pytest.raises(TypeError, match="missing required field"):
        Required()  # type: ignore[call-arg]
    assert Required(x=3).x == 3


def test_array_views_are_zero_copy_and_cached() -> None:
    s = State()
    view = s.grid
    assert view is s.grid
    assert not view.flags.owndata and view.flags.writeable and view.flags.c_contiguous
    view[2, 1] = 5.0
    raw = ctypes.string_at(ctypes.addressof(s), State.layout.size)
    assert np.frombuffer(raw, dtype=State.dtype)[0]["grid"][2, 1] == 5.0


def test_array_assignment_copies_after_checks() -> None:
    s = EveryType()
    source = np.arange(5, dtype=np.int64)
    s.samples = source
    source[0] = 99
    assert s.samples.tolist() == [0, 1, 2, 3, 4]
    s.samples = [5, 6, 7, 8, 9]
    assert s.samples.tolist() == [5, 6, 7, 8, 9]
    with pytest.raises(FieldValueError, match="out of range for int32"):
        s.samples = np.array([0, 0, 0, 0, 2**40])
    with pytest.raises(FieldTypeError, match="cannot store float64"):
        s.samples = np.zeros(5)
    assert s.samples.tolist() == [5, 6, 7, 8, 9]
    s.matrix = np.ones((2, 3), dtype=np.float32)
    assert s.matrix.sum() == 6.0


def test_array_assignment_takes_ints_of_any_sign_in_range_and_refuses_bools() -> None:
    class Pixels(SharedStruct):
        px: NDArray[np.uint8] = array(3)
        counts: NDArray[np.int32] = array(2)
        flags: NDArray[np.bool_] = array(2)

    p = Pixels()
    p.px = [1, 2, 255]  # a list of Python ints is int64: fine while every value fits
    p.px = np.array([3, 4, 5], dtype=np.int16)
    assert p.px.tolist() == [3, 4, 5]
    with pytest.raises(FieldValueError, match=r"values -1\.\.5 are out of range for uint8"):
        p.px = [-1, 2, 5]
    with pytest.raises(FieldTypeError, match="cannot store bool values in a int32 array"):
        p.counts = np.array([True, False])
    with pytest.raises(FieldTypeError, match="cannot store int64 values in a bool array"):
        p.flags = [1, 0]
    assert p.px.tolist() == [3, 4, 5] and p.counts.tolist() == [0, 0] and p.flags.tolist() == [False, False]


def test_text_round_trip_with_multibyte_characters() -> None:
    s = State()
    s.label = "日本語テキスト"[:5]  # 15 bytes
    assert s.label == "日本語テキ"
    s.label = ""
    assert s.label == ""
    s.label = "x" * 16
    assert s.label == "x" * 16


def test_nested_fields() -> None:
    class Line(SharedStruct):
        start: Vec3 = nested()
        end: Vec3 = nested(x=1.0)

    line = Line()
    assert (line.end.x, line.end.y) == (1.0, 0.0)
    line.start.y = 2.0
    assert line.start.y == 2.0
    line.start = {"z": 5.0}
    assert (line.start.x, line.start.y, line.start.z) == (0.0, 0.0, 5.0)
    line.start = line.end
    assert line.start.x == 1.0
    line.end = Vec3(x=7.0, y=8.0, z=9.0)
    assert (line.end.x, line.end.y, line.end.z) == (7.0, 8.0, 9.0)
    line.start = line.end.snapshot()
    assert line.start.z == 9.0
    built = Line(start={"x": 3.0}, end=Vec3(z=4.0))
    assert (built.start.x, built.end.z, built.end.x) == (3.0, 4.0, 0.0)
    assert line.start.lock is line.lock
    with pytest.raises(FieldValueError):
        line.start.x = 10**400


def test_update_is_all_or_nothing() -> None:
    s = State()
    s.update(steps=10, running=False, label="done", origin={"x": 1.0})
    assert (s.steps, s.running, s.label, s.origin.x) == (10, False, "done", 1.0)
    with pytest.raises(FieldValueError):
        s.update(steps=11, level=1000)
    with pytest.raises(TypeError, match="no field"):
        s.update(steps=12, bogus=1)
    assert s.steps == 10


def test_snapshot_is_a_frozen_pydantic_model() -> None:
    s = State(steps=2, label="snap")
    s.grid[0] = [1.0, 2.0, 3.0]
    s.origin.z = 4.0
    snap = s.snapshot()
    assert isinstance(snap, pydantic.BaseModel) and type(snap) is shmstruct.snapshot_model(State)
    s.steps = 99
    s.grid[0, 0] = 99.0
    assert snap.steps == 2 and snap.grid[0, 0] == 1.0 and snap.origin.z == 4.0
    with pytest.raises(pydantic.ValidationError):
        snap.steps = 5
    with pytest.raises(ValueError):
        snap.grid[0, 0] = 5.0  # read-only copy
    dumped = snap.model_dump()
    assert dumped["label"] == "snap" and dumped["origin"] == {"x": 0.0, "y": 0.0, "z": 4.0}
    data = json.loads(snap.model_dump_json())
    assert data["grid"][0] == [1.0, 2.0, 3.0] and data["steps"] == 2 and data["origin"]["z"] == 4.0


def test_snapshot_of_every_type_dumps_json() -> None:
    data = json.loads(EveryType().snapshot().model_dump_json())
    assert data["uq"] == 2**50 and data["u"] == "x" and data["words"] == "hello" and data["where"]["y"] == 2.0


def test_snapshot_json_round_trips_char_fields() -> None:
    class C(SharedStruct):
        g: Annotated[bytes, ctypes.c_char] = b"A"
        n: int = 3

    model = shmstruct.snapshot_model(C)
    again = model.model_validate_json(C().snapshot().model_dump_json())
    assert again.g == b"A" and again.n == 3


def test_double_overflow_message_gives_the_finite_range() -> None:
    class D(SharedStruct):
        t: float = 0.0

    d = D()
    with pytest.raises(
        FieldValueError,
        match=r"out of range for double \(allowed -1\.79769e\+308\.\.1\.79769e\+308 \(or inf, -inf, nan\)\)",
    ):
        d.t = 10**400
    d.t = 1.7976931348623157e308
    d.t = float("-inf")
    assert d.t == float("-inf")


def test_annotated_types_constraints() -> None:
    class C(SharedStruct):
        even: Annotated[int, annotated_types.MultipleOf(2)] = 0
        title: Annotated[str, pydantic.Field(min_length=1)] = text(8, "a")

    c = C()
    c.even = 4
    with pytest.raises(FieldValueError, match=r"C\.even: 3 is not allowed"):
        c.even = 3
    with pytest.raises(FieldValueError, match="C.title"):
        c.title = ""
    assert (c.even, c.title) == (4, "a")


def test_copy_is_refused_with_advice() -> None:
    with pytest.raises(TypeError, match="snapshot"):
        copy.copy(State())
    with pytest.raises(TypeError, match="snapshot"):
        copy.deepcopy(State())


def test_repr_shows_values() -> None:
    text_ = repr(State(steps=3, label="hi"))
    assert text_.startswith("State(steps=3, level=0,") and "label='hi'" in text_ and "origin=Vec3(x=0.0" in text_


def test_large_array_field_is_lazily_zero() -> None:
    class Big(SharedStruct):
        data: NDArray[np.uint8] = array(256 * 1024 * 1024)

    big = Big()
    assert big.data[-1] == 0 and big.data.nbytes == 256 * 1024 * 1024
