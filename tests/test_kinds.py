"""Each kind of field is one class; a scalar type ctypes lacks (float16) is one row plus hooks."""

from __future__ import annotations

import ctypes
import json
import math
import pathlib
import re
import subprocess
import sys
from typing import Annotated

import numpy as np
import pytest
from numpy.typing import NDArray

import shmstruct
from shmstruct import SharedStruct, array, atomic, nested, text
from shmstruct._kinds import KINDS, ArrayField, AtomicField, NestedField, ScalarField, TextField


class Half(SharedStruct):
    h: shmstruct.float16 = 1.5
    hs: NDArray[np.float16] = array(3)


class Point(SharedStruct):
    x: float = 0.0


class Mixed(SharedStruct):
    a: int = 0
    b: shmstruct.Atomic[int] = atomic()
    c: str = text(4)
    d: NDArray[np.int8] = array(2)
    e: Point = nested(Point, x=2.0)


def test_each_field_is_an_instance_of_its_kind() -> None:
    kinds = [type(f) for f in shmstruct.fields(Mixed)]
    assert kinds == [ScalarField, AtomicField, TextField, ArrayField, NestedField]
    assert [f.kind for f in shmstruct.fields(Mixed)] == ["scalar", "atomic", "text", "array", "nested"]
    assert all(isinstance(f, shmstruct.Field) for f in shmstruct.fields(Mixed))
    assert set(KINDS) == set(kinds)
    with Mixed() as m:
        assert m.e.x == 2.0


def test_float16_reads_writes_and_checks_its_range() -> None:
    with Half() as s:
        assert s.h == 1.5
        s.h = 65504.0
        assert s.h == 65504.0
        s.h = 0.1
        assert s.h == float(np.float16(0.1))
        s.h = math.inf
        assert s.h == math.inf
        with pytest.raises(shmstruct.FieldValueError, match=r"Half\.h: 70000\.0 is out of range for _Float16"):
            s.h = 70000.0
        with pytest.raises(shmstruct.FieldTypeError, match=r"Half\.h expects a float"):
            s.h = "1"  # type: ignore[assignment]
        assert s.h == math.inf
        s.hs[:] = [0.5, -2.0, 3.0]
        s.h = -1.25
        assert s.hs.dtype == np.float16
        model = shmstruct.snapshot(s)
        assert model.h == -1.25
        assert model.hs.tolist() == [0.5, -2.0, 3.0]
        layout = shmstruct.layout(Half)
        assert layout.field("h").c_decl == "_Float16"
        assert layout.field("hs").c_decl == "_Float16[3]"
        assert layout.dtype["h"] == np.float16
        out = subprocess.run(
            [sys.executable, "-m", "shmstruct", "show", "--json", shmstruct.segment_name(s)],
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        assert json.loads(out.stdout)["values"] == {"h": -1.25, "hs": [0.5, -2.0, 3.0]}


def test_no_module_outside_the_kinds_tests_a_field_kind() -> None:
    package = pathlib.Path(shmstruct.__file__).parent
    pattern = re.compile(r"""["'](scalar|atomic|text|array|nested)["']""")
    offenders = [
        f"{path.name}:{number}"
        for path in package.glob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line) and "__all__" not in line and not line.strip().startswith('"')
    ]
    assert offenders == []


def test_the_fingerprint_text_is_exactly_what_json_writes() -> None:
    import hashlib

    from helpers import EveryType, State

    from shmstruct._cpython import sha256
    from shmstruct._header import canonical_json, template_of

    class Größe(SharedStruct):  # a non-ASCII name takes the json module's path
        wert: int = 0

    for schema in (Half, Mixed, State, EveryType, Größe):
        description = shmstruct.layout(schema).description
        reference = json.dumps(description, sort_keys=True, separators=(",", ":"))
        fast = canonical_json(description)
        assert fast is None if schema is Größe else fast == reference
        assert template_of(schema).fingerprint == hashlib.sha256(reference.encode()).digest()
    assert canonical_json({"a": [1, True]}) is None  # json would write true
    assert sha256(b"abc") == hashlib.sha256(b"abc").digest()


def test_a_wchar_that_holds_no_character_decodes_as_the_replacement_character() -> None:
    class Letter(SharedStruct):
        u: Annotated[str, ctypes.c_wchar] = "x"

    letters = shmstruct.table(Letter, 2)
    letters.records["u"].view(np.uint32)[0] = 0xFFFFFFFF  # an unchecked numpy write, or another program's
    assert [row.u for row in letters.models()] == ["\ufffd", "x"]  # numpy itself fails on such a code
