"""Defining schemas: accepted types, rejected declarations, inheritance and the compiled layout."""

from __future__ import annotations

import ctypes
from typing import Annotated, Any, ClassVar, Optional

import numpy as np
import pytest
from helpers import EveryType, State, Vec3
from numpy.typing import NDArray

import shmstruct
from shmstruct import SchemaError, SharedStruct, array, fields, nested, text

CTYPES_TABLE = [
    (ctypes.c_bool, bool), (ctypes.c_char, bytes), (ctypes.c_wchar, str), (ctypes.c_byte, int),
    (ctypes.c_ubyte, int), (ctypes.c_short, int), (ctypes.c_ushort, int), (ctypes.c_int, int),
    (ctypes.c_uint, int), (ctypes.c_long, int), (ctypes.c_ulong, int), (ctypes.c_longlong, int),
    (ctypes.c_ulonglong, int), (ctypes.c_float, float), (ctypes.c_double, float), (ctypes.c_int8, int),
    (ctypes.c_uint8, int), (ctypes.c_int16, int), (ctypes.c_uint16, int), (ctypes.c_int32, int),
    (ctypes.c_uint32, int), (ctypes.c_int64, int), (ctypes.c_uint64, int), (ctypes.c_size_t, int),
    (ctypes.c_ssize_t, int),
]  # fmt: skip


def make_schema(annotation: Any, default: Any = shmstruct.MISSING, name: str = "S") -> Any:
    namespace: dict[str, Any] = {"__annotations__": {"v": annotation}, "__module__": __name__}
    if default is not shmstruct.MISSING:
        namespace["v"] = default
    return type(SharedStruct)(name, (SharedStruct,), namespace)


@pytest.mark.parametrize(("ctype", "python_type"), CTYPES_TABLE, ids=lambda x: getattr(x, "__name__", str(x)))
def test_every_ctypes_scalar_is_accepted(ctype: Any, python_type: type) -> None:
    S = make_schema(Annotated[python_type, ctype])
    f = fields(S)[0]
    assert f.ctype is ctype and f.size == ctypes.sizeof(ctype)
    assert S.dtype.itemsize == ctypes.sizeof(S.layout.struct)


@pytest.mark.parametrize("code", list(shmstruct.TYPE_CODES))
def test_every_type_code_is_accepted(code: str) -> None:
    ctype = shmstruct.TYPE_CODES[code]
    python_type = {"c": bytes, "u": str, "f": float, "d": float}.get(code, int)
    S = make_schema(Annotated[python_type, code])
    assert fields(S)[0].ctype is ctype


def test_plain_python_types_map_to_int64_double_bool() -> None:
    class P(SharedStruct):
        i: int = 0
        f: float = 0.0
        b: bool = False

    assert [f.ctype for f in fields(P)] == [ctypes.c_int64, ctypes.c_double, ctypes.c_bool]
    assert [f.c_decl for f in fields(P)] == ["int64_t", "double", "bool"]


def test_sized_aliases() -> None:
    class P(SharedStruct):
        a: shmstruct.int8 = 0
        b: shmstruct.uint16 = 0
        c: shmstruct.int32 = 0
        d: shmstruct.uint64 = 0
        e: shmstruct.float32 = 0.0
        f: shmstruct.float64 = 0.0

    assert [f.dtype for f in fields(P)] == [np.dtype(t) for t in ("i1", "u2", "i4", "u8", "f4", "f8")]


@pytest.mark.parametrize(
    ("annotation", "default", "expected"),
    [
        (Annotated[bytes, ctypes.c_char_p], shmstruct.MISSING, "pointer"),
        (Annotated[str, ctypes.c_wchar_p], shmstruct.MISSING, "pointer"),
        (Annotated[int, ctypes.c_void_p], shmstruct.MISSING, "pointer"),
        (Annotated[float, ctypes.c_longdouble], shmstruct.MISSING, "c_longdouble"),
        (list, shmstruct.MISSING, "use array(shape)"),
        (list[int], shmstruct.MISSING, "use array(shape)"),
        (dict, shmstruct.MISSING, "cannot live in shared memory"),
        (Optional[int], shmstruct.MISSING, "sentinel"),  # noqa: UP045 - the spelling users write
        (int | None, shmstruct.MISSING, "sentinel"),
        (str, "", "use text"),
        (str, shmstruct.MISSING, "use text(max_bytes)"),
        (bytes, b"", "fixed size"),
        (object, None, "cannot live in shared memory"),
        (NDArray[np.float64], shmstruct.MISSING, "array(shape)"),
        (NDArray[np.complex128], array(3), "not supported"),
        (np.ndarray, array(3), "element type is unknown"),
        (NDArray[np.float64], array(3, np.int32), "annotation says"),
        (Annotated[float, ctypes.c_int], 0, "stores int values"),
        (Annotated[int, "x"], 0, "unknown type code"),
        (Annotated[int, ctypes.c_int, ctypes.c_long], 0, "one storage type"),
        (ctypes.c_int, 0, "Annotated[int, ctypes.c_int]"),
        (int, text(3), "declares a str field"),
        (Annotated[int, ctypes.c_int], text(3), "does not go with"),
        (int, nested(), "SharedStruct subclass"),
        (Vec3, Vec3.layout, "nested()"),
    ],
)
def test_unsupported_declarations_fail_at_class_definition(annotation: Any, default: Any, expected: str) -> None:
    with pytest.raises(SchemaError, match="S.v") as info:
        make_schema(annotation, default)
    assert expected in str(info.value)
    assert isinstance(info.value, TypeError)


@pytest.mark.parametrize("name", ["lock", "_private", "__dunder__"])
def test_only_lock_and_private_names_are_reserved(name: str) -> None:
    with pytest.raises(SchemaError, match=f"S.{name}"):
        type(SharedStruct)("S", (SharedStruct,), {"__annotations__": {name: int}, name: 0})


@pytest.mark.parametrize("hook", ["__init__", "__post_init__", "__new__", "__setattr__", "__delattr__"])
def test_an_instance_hook_is_refused_not_ignored(hook: str) -> None:
    def method(self: Any, *args: Any) -> None:
        raise AssertionError("never called")

    with pytest.raises(SchemaError, match=rf"^S\.{hook}: "):
        type(SharedStruct)("S", (SharedStruct,), {"__annotations__": {"v": int}, "v": 0, hook: method})


def test_methods_and_properties_of_a_schema_work() -> None:
    class Interval(SharedStruct):
        low: float = 0.0
        high: float = 1.0

        @property
        def width(self) -> float:
            return self.high - self.low

        def widen(self, by: float) -> None:
            with self.lock:
                self.low -= by
                self.high += by

    with Interval() as interval:
        interval.widen(0.5)
        assert (interval.low, interval.high, interval.width) == (-0.5, 1.5, 2.0)


def test_invalid_defaults_are_rejected_at_definition() -> None:
    with pytest.raises(
        SchemaError, match=r"^S\.v: the default 300 is invalid: 300 is out of range for int8_t \(allowed -128\.\.127\)$"
    ):
        make_schema(shmstruct.int8, 300)
    with pytest.raises(SchemaError, match="S.v: the default"):
        make_schema(str, text(2, "abc"))
    with pytest.raises(SchemaError, match="S.v"):
        make_schema(Vec3, nested(w=1.0))


def test_classvars_are_not_fields() -> None:
    class P(SharedStruct):
        limit: ClassVar[int] = 5
        x: int = 0

    assert [f.name for f in fields(P)] == ["x"]
    assert P.limit == 5


def test_subclass_extends_parent_fields_first() -> None:
    class Base(SharedStruct):
        a: int = 1
        b: shmstruct.int8 = 2

    class Child(Base):
        c: float = 3.0

    assert [f.name for f in fields(Child)] == ["a", "b", "c"]
    assert fields(Child)[:2] == fields(Base)
    child = Child(b=5)
    assert (child.a, child.b, child.c) == (1, 5, 3.0)
    assert isinstance(child, Base)
    with pytest.raises(SchemaError, match="already declares"):
        type(SharedStruct)("Bad", (Base,), {"__annotations__": {"a": int}})
    with pytest.raises(SchemaError, match=r"Bad\.a: a subclass cannot change the field 'a' of its parent"):
        type(SharedStruct)("Bad", (Base,), {"a": 5})


def test_layout_matches_ctypes_and_numpy() -> None:
    layout = State.layout
    struct = layout.struct
    assert layout.size == ctypes.sizeof(struct) == State.dtype.itemsize
    for f in layout.fields:
        assert getattr(struct, f.name).offset == f.offset == State.dtype.fields[f.name][1]
    assert State.dtype["grid"] == np.dtype((np.float64, (4, 3)))
    assert State.dtype["label"] == np.dtype("S16")
    assert State.dtype["origin"] == Vec3.dtype
    table = str(layout)
    assert "grid" in table and "double[4][3]" in table and "struct Vec3" in table and "char[16]" in table
    assert table.splitlines()[0] == f"State: {layout.size} bytes, aligned to 8"


def test_native_alignment_and_padding() -> None:
    class Padded(SharedStruct):
        a: shmstruct.int8 = 0
        b: float = 0.0
        c: shmstruct.int16 = 0

    assert [f.offset for f in fields(Padded)] == [0, 8, 16]
    assert Padded.layout.size == 24


def test_numpy_view_of_records_reads_the_same_bytes() -> None:
    s = EveryType()
    raw = ctypes.string_at(ctypes.addressof(s), EveryType.layout.size)
    record = np.frombuffer(raw, dtype=EveryType.dtype)[0]
    assert record["i"] == s.i and record["uq"] == s.uq and record["d"] == s.d
    assert record["words"] == b"hello" and record["where"]["z"] == 3.0


def test_fields_rejects_non_schemas() -> None:
    with pytest.raises(TypeError):
        fields(int)
    with pytest.raises(TypeError):
        SharedStruct()


def test_string_annotations_are_resolved() -> None:
    namespace: dict[str, Any] = {
        "__annotations__": {"x": "shmstruct.int16", "v": "Vec3"},
        "__module__": __name__,
        "x": 3,
        "v": nested(),
    }
    S = type(SharedStruct)("S", (SharedStruct,), namespace)
    assert fields(S)[0].dtype == np.dtype("i2") and fields(S)[1].schema is Vec3


def test_type_hints_of_a_schema_are_its_fields() -> None:
    """Tools that read annotations (typing.get_type_hints: pydantic, typeguard, cattrs) see the
    user's fields, and nothing of shmstruct's (whose annotations need names it does not import)."""
    import typing

    class Parent(SharedStruct):
        steps: int = 0
        label: str = text(8)

    class Child(Parent):
        grid: NDArray[np.float64] = array(3)
        limit: ClassVar[int] = 3

    assert typing.get_type_hints(Parent) == {"steps": int, "label": str}
    assert typing.get_type_hints(Child) == {
        "steps": int,
        "label": str,
        "grid": NDArray[np.float64],
        "limit": ClassVar[int],
    }
