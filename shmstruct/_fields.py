"""Turning one declared field (annotation + default) into a :class:`Field`, and ``fields(State)``.

A :class:`Field` says everything the layout compiler and the runtime need: its kind, the ctypes
type that stores it, the matching numpy dtype, its default and its user constraints. Offsets are
filled in by the layout compiler (:mod:`shmstruct._layout`).
"""

from __future__ import annotations

import ctypes
import enum
import operator
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

import numpy as np

from ._atomic import Atomic
from ._errors import SchemaError, short_repr
from ._specs import ArraySpec, AtomicSpec, NestedSpec, TextSpec
from ._types import TYPE_CODES, ScalarType, scalar_type_for_python, scalar_type_of

__all__ = ["MISSING", "Field", "FieldKind", "fields", "resolve_field"]

FieldKind = Literal["scalar", "text", "array", "nested"]


class _Missing(enum.Enum):
    MISSING = "MISSING"

    def __repr__(self) -> str:
        return "MISSING"


#: The default of a field the constructor must be given.
MISSING: Literal[_Missing.MISSING] = _Missing.MISSING


@dataclass(frozen=True)
class Field:
    """One field of a schema, as ``shmstruct.fields(State)`` returns it.

    Attributes:
        name: The attribute name.
        owner: The name of the class that declared it (used in messages as ``Owner.name``).
        kind: ``"scalar"``, ``"text"``, ``"array"`` or ``"nested"``.
        annotation: The annotation as written.
        ctype: The ctypes type stored in the block.
        dtype: The numpy dtype of the stored value (a sub-array dtype for arrays).
        c_decl: The C declaration shown in layout tables, e.g. ``int8_t`` or ``double[4][3]``.
        default: The initial value, or ``MISSING`` when the constructor must be given one (for arrays,
            the :func:`array` spec: arrays start zero-filled; for nested fields, the :func:`nested` spec).
        scalar: The scalar type row (scalars, and the element type of arrays).
        shape: The array shape (``()`` for other kinds).
        max_bytes: The capacity of a text field in UTF-8 bytes.
        schema: The nested schema class.
        constraints: User constraints from ``Annotated`` (pydantic ``Field``, annotated-types).
        offset: Byte offset from the start of the struct.
        size: Size in bytes.
        atomic: Whether the field is an ``Atomic`` integer (a scalar read as an :class:`Atomic`).
    """

    name: str
    owner: str
    kind: FieldKind
    annotation: Any
    ctype: type[Any]
    dtype: np.dtype[Any]
    c_decl: str
    default: Any = MISSING
    scalar: ScalarType | None = None
    shape: tuple[int, ...] = ()
    max_bytes: int | None = None
    schema: type[Any] | None = None
    constraints: tuple[Any, ...] = ()
    offset: int = -1
    size: int = 0
    atomic: bool = False

    @property
    def qualname(self) -> str:
        """``Owner.name``, as every error message spells the field."""
        return f"{self.owner}.{self.name}"

    @property
    def required(self) -> bool:
        """Whether the constructor must be given a value for this field."""
        return self.default is MISSING


_SUPPORTED = (
    "int, float, bool, a sized alias (shmstruct.int8 ... float64), Annotated[int, ctypes.c_int] or a type code "
    "such as Annotated[int, 'I'], str = text(n), NDArray[...] = array(shape), or a nested SharedStruct = nested()"
)


def _fail(owner: str, name: str, what: str) -> SchemaError:
    return SchemaError(f"{owner}.{name}: {what}")


def annotated(base: Any, metadata: tuple[Any, ...]) -> Any:
    """``Annotated[base, *metadata]``, spelled so that Python 3.10 accepts it."""
    return operator.getitem(Annotated, (base, *metadata))


def _split_annotated(annotation: Any) -> tuple[Any, list[Any]]:
    if typing.get_origin(annotation) is Annotated:
        base, *metadata = typing.get_args(annotation)
        inner_base, inner_meta = _split_annotated(base)
        return inner_base, inner_meta + list(metadata)
    return annotation, []


def _is_ctypes_class(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(
        obj, (ctypes._SimpleCData, ctypes._Pointer, ctypes.Array, ctypes.Structure)
    )


def _storage_from_metadata(owner: str, name: str, metadata: list[Any]) -> tuple[ScalarType | None, list[Any]]:
    """Split ``Annotated`` metadata into the one storage type (ctypes class or type code) and the constraints."""
    storage: list[ScalarType] = []
    constraints: list[Any] = []
    for item in metadata:
        if isinstance(item, str):
            ctype = TYPE_CODES.get(item)
            if ctype is None:
                raise _fail(owner, name, f"unknown type code {item!r}; known codes: {' '.join(TYPE_CODES)}")
            row = scalar_type_of(ctype)
            if row is None:
                raise _fail(owner, name, f"type code {item!r} is not supported on this platform")
            storage.append(row)
        elif _is_ctypes_class(item):
            row = scalar_type_of(item)
            if row is None:
                raise _fail(owner, name, _ctypes_rejection(item))
            storage.append(row)
        else:
            constraints.append(item)
    if len(storage) > 1:
        raise _fail(owner, name, "give one storage type in Annotated[...], not several")
    return (storage[0] if storage else None), constraints


def _ctypes_rejection(ctype: type[Any]) -> str:
    if ctype in (ctypes.c_char_p, ctypes.c_wchar_p, ctypes.c_void_p) or issubclass(ctype, ctypes._Pointer):
        return (
            f"{ctype.__name__} is a pointer, which means nothing in another process; "
            "use text(n) for strings or array(shape) for numbers"
        )
    if ctype is ctypes.c_longdouble:
        return "c_longdouble is not supported (not stored atomically, no portable numpy type); use float"
    if issubclass(ctype, (ctypes.Array, ctypes.Structure)):
        return (
            f"{ctype.__name__} is a ctypes aggregate; use array(shape) for arrays and a nested SharedStruct for structs"
        )
    return (
        f"{ctype.__name__} is not a supported scalar type (byte-swapped or custom ctypes subclasses are not "
        "supported); use one of c_bool, c_char, c_wchar, c_byte, c_ubyte, c_short, c_ushort, c_int, c_uint, "
        "c_long, c_ulong, c_longlong, c_ulonglong, c_float, c_double or a sized alias such as c_int8"
    )


def _describe_unsupported(base: Any) -> str:
    origin = typing.get_origin(base)
    if origin is Union or origin is types.UnionType:
        return (
            f"{base!r} cannot live in shared memory (a slot has one fixed type); "
            "store a sentinel value or add a bool field beside it"
        )
    if base in (list, dict, set, tuple) or origin in (list, dict, set, tuple):
        return f"{base!r} cannot live in shared memory (its size is not fixed); use array(shape) for fixed-size numbers"
    if base is bytes:
        return "bytes needs a fixed size: use Annotated[bytes, ctypes.c_char] for one byte, text(n) or array((n,), np.uint8)"
    if _is_ctypes_class(base):
        row = scalar_type_of(base)
        if row is None:
            return _ctypes_rejection(base)
        return (
            f"write Annotated[{row.python_type.__name__}, ctypes.{base.__name__}] so reads are typed as Python values"
        )
    return f"{base!r} cannot live in shared memory; supported are {_SUPPORTED}"


def _ndarray_annotation(base: Any) -> tuple[bool, np.dtype[Any] | None]:
    """Whether ``base`` annotates a numpy array, and the dtype it names (``NDArray[np.float64]``)."""
    if base is np.ndarray:
        return True, None
    origin, args = typing.get_origin(base), typing.get_args(base)
    alias_value = getattr(origin if origin is not None else base, "__value__", None)  # PEP 695 alias (numpy 2 on 3.12+)
    if alias_value is not None and typing.get_origin(alias_value) is np.ndarray:
        scalar = args[0] if len(args) == 1 else None
    elif origin is np.ndarray:
        dtype_args = typing.get_args(args[1]) if len(args) == 2 else ()
        scalar = dtype_args[0] if len(dtype_args) == 1 else None
    else:
        return False, None
    if not isinstance(scalar, type):
        return True, None
    try:
        return True, np.dtype(scalar)
    except TypeError:
        return True, None


def _scalar_field(
    owner: str, name: str, annotation: Any, base: Any, row: ScalarType | None, default: Any, constraints: list[Any]
) -> Field:
    if row is None:
        row = scalar_type_for_python(base)
        if row is None:
            raise _fail(owner, name, _describe_unsupported(base))
    if base is not row.python_type:
        raise _fail(
            owner, name,
            f"{row.ctype.__name__} stores {row.python_type.__name__} values, but the annotation says "
            f"{getattr(base, '__name__', base)}; write Annotated[{row.python_type.__name__}, ...]",
        )  # fmt: skip
    return Field(
        name, owner, "scalar", annotation, row.ctype, row.dtype, row.c_name,
        default=default, scalar=row, constraints=tuple(constraints),
    )  # fmt: skip


def _text_field(owner: str, name: str, annotation: Any, base: Any, spec: TextSpec, constraints: list[Any]) -> Field:
    if base is not str:
        raise _fail(owner, name, f"text() declares a str field, but the annotation says {base!r}")
    n = spec.max_bytes
    return Field(
        name, owner, "text", annotation, ctypes.c_char * n, np.dtype(f"S{n}"), f"char[{n}]",
        default=spec.default, max_bytes=n, constraints=tuple(constraints),
    )  # fmt: skip


def _array_field(owner: str, name: str, annotation: Any, base: Any, spec: ArraySpec, constraints: list[Any]) -> Field:
    is_array, named = _ndarray_annotation(base)
    if not is_array:
        raise _fail(
            owner,
            name,
            f"array() declares a numpy array field; annotate it NDArray[np.float64] (or another dtype), not {base!r}",
        )
    if constraints:
        raise _fail(owner, name, "constraints are not supported on array fields")
    dtype = spec.dtype or named
    if dtype is None:
        raise _fail(
            owner, name, "the element type is unknown: annotate NDArray[np.float64] or pass array(shape, dtype=...)"
        )
    if named is not None and spec.dtype is not None and named != spec.dtype:
        raise _fail(owner, name, f"the annotation says {named} but array() says dtype={spec.dtype}")
    try:
        element = np.ctypeslib.as_ctypes_type(dtype)
    except NotImplementedError:
        element = None
    row = scalar_type_of(element) if element is not None and dtype.isnative else None
    if row is None or row.python_type not in (int, float, bool):
        raise _fail(
            owner,
            name,
            f"arrays of {dtype} are not supported; use bool, int8..int64, uint8..uint64, float32 or float64",
        )
    ctype: type[Any] = row.ctype
    for dim in reversed(spec.shape):
        ctype = ctype * dim
    dims = "".join(f"[{d}]" for d in spec.shape)
    return Field(
        name, owner, "array", annotation, ctype, np.dtype((row.dtype, spec.shape)), f"{row.c_name}{dims}",
        default=spec, scalar=row, shape=spec.shape,
    )  # fmt: skip


def _nested_field(
    owner: str,
    name: str,
    annotation: Any,
    schema: type[Any],
    default: Any,
    constraints: list[Any],
    schema_dtype: np.dtype[Any],
) -> Field:
    if constraints:
        raise _fail(
            owner, name, "constraints are not supported on nested fields; put them on the nested class's fields"
        )
    if not isinstance(default, NestedSpec) and default is not MISSING:
        raise _fail(
            owner, name, f"a nested field's default is written nested() or nested(field=value), not {default!r}"
        )
    return Field(
        name, owner, "nested", annotation, schema, schema_dtype, f"struct {schema.__name__}",
        default=default, schema=schema,
    )  # fmt: skip


_ATOMIC_SIZES = (4, 8)


def _atomic_field(owner: str, name: str, annotation: Any, base: Any, default: Any, constraints: list[Any]) -> Field:
    if constraints:
        raise _fail(owner, name, "constraints are not supported on atomic fields (the range of the C type is checked)")
    if isinstance(default, AtomicSpec):
        default = default.default
    elif default is not MISSING:
        raise _fail(
            owner,
            name,
            f"an atomic field's default is written atomic() or atomic({short_repr(default, 40)}), not {short_repr(default, 40)}",
        )
    arguments = typing.get_args(base)
    inner, metadata = _split_annotated(arguments[0] if arguments else int)
    row, _ = _storage_from_metadata(owner, name, metadata)
    if row is None:
        row = scalar_type_for_python(inner) if inner is int else None
    if row is None or row.python_type is not int or ctypes.sizeof(row.ctype) not in _ATOMIC_SIZES or inner is not int:
        raise _fail(
            owner, name,
            f"atomic fields hold 32- or 64-bit integers: Atomic[int] (int64), Atomic[shmstruct.int32], "
            f"Atomic[shmstruct.uint32] or Atomic[shmstruct.uint64], not Atomic[{getattr(inner, '__name__', inner)}]"
            + (f" ({row.c_name})" if row is not None else ""),
        )  # fmt: skip
    return Field(
        name, owner, "scalar", annotation, row.ctype, row.dtype, f"_Atomic {row.c_name}",
        default=default, scalar=row, atomic=True,
    )  # fmt: skip


def _is_atomic(base: Any) -> bool:
    return base is Atomic or typing.get_origin(base) is Atomic


def resolve_field(
    owner: str, name: str, annotation: Any, default: Any, schema_dtype: typing.Callable[[Any], np.dtype[Any] | None]
) -> Field:
    """Turn one declaration ``name: annotation = default`` into a :class:`Field` (offset not yet known).

    Args:
        owner: The declaring class's name, for messages.
        name: The field name.
        annotation: The resolved annotation.
        default: The value after ``=``, a spec from :func:`array` / :func:`text` / :func:`nested`,
            or ``MISSING``.
        schema_dtype: Returns the dtype of a schema class, or ``None`` for anything else.

    Raises:
        SchemaError: The declaration cannot live in shared memory; the message says what to write.
    """
    base, metadata = _split_annotated(annotation)
    row, constraints = _storage_from_metadata(owner, name, metadata)
    if _is_atomic(base):
        if row is not None:
            raise _fail(owner, name, "give an atomic field's C type inside Atomic[...], e.g. Atomic[shmstruct.uint32]")
        return _atomic_field(owner, name, annotation, base, default, constraints)
    if isinstance(default, AtomicSpec):
        raise _fail(
            owner,
            name,
            f"atomic() declares an atomic field: annotate it Atomic[int] (or Atomic[shmstruct.uint32], ...), not {base!r}",
        )
    if row is not None:
        if isinstance(default, (TextSpec, ArraySpec, NestedSpec)):
            raise _fail(owner, name, f"{type(default).__name__} does not go with a scalar type")
        return _scalar_field(owner, name, annotation, base, row, default, constraints)
    nested_dtype = schema_dtype(base)
    if nested_dtype is not None:
        return _nested_field(owner, name, annotation, base, default, constraints, nested_dtype)
    if isinstance(default, TextSpec):
        return _text_field(owner, name, annotation, base, default, constraints)
    if isinstance(default, ArraySpec):
        return _array_field(owner, name, annotation, base, default, constraints)
    if isinstance(default, NestedSpec):
        raise _fail(owner, name, f"nested() needs a SharedStruct subclass as the annotation, not {base!r}")
    if base is str:
        raise _fail(
            owner,
            name,
            "a str needs a fixed capacity in shared memory: use text(max_bytes), e.g. `label: str = text(32)`",
        )
    if _ndarray_annotation(base)[0]:
        raise _fail(
            owner,
            name,
            "an array needs a fixed shape in shared memory: use array(shape), e.g. `grid: NDArray[np.float64] = array((64, 64))`",
        )
    if type(default).__name__ == "FieldInfo":
        raise _fail(owner, name, "put pydantic constraints in the annotation: Annotated[int, Field(ge=0)] = 0")
    return _scalar_field(owner, name, annotation, base, None, default, constraints)


def fields(schema: type[Any]) -> tuple[Field, ...]:
    """The fields of a schema class, parent fields first, with their offsets and sizes.

    Raises:
        TypeError: ``schema`` is not a SharedStruct subclass with fields.
    """
    layout = getattr(schema, "layout", None)
    found = getattr(layout, "fields", None)
    if not isinstance(schema, type) or found is None:
        raise TypeError(f"fields() takes a SharedStruct subclass, not {schema!r}")
    return typing.cast(tuple[Field, ...], found)
