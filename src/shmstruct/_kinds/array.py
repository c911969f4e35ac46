"""Array fields: ``grid: NDArray[np.float64] = array((64, 64))``, a fixed-shape array in place.

Read as a zero-copy numpy view over the block, made once per proxy and cached in its
``__dict__``; written whole (``s.grid = values``) under the lock after a check of the shape and of
every value's range. Arrays start zero-filled.
"""

from __future__ import annotations

import sys

from .._errors import FieldTypeError, FieldValueError, short_repr
from .._proxy import block_of
from .._specs import ArraySpec
from .._types import scalar_type_of_dtype
from ._base import MISSING, Declaration, Field, json_number

TYPE_CHECKING = False  # typing is for type checkers only: importing it costs a spawned child ~5 ms
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from ._base import Preparer

__all__ = ["ArrayField"]


def _ndarray_annotation(base: Any) -> tuple[bool, Any]:
    """Whether ``base`` annotates a numpy array, and the dtype it names (``NDArray[np.float64]``)."""
    np = sys.modules.get("numpy")
    if np is None:  # an annotation cannot name numpy's types unless numpy is imported
        return False, None
    if base is np.ndarray:
        return True, None
    import typing  # numpy has imported it

    origin, args = typing.get_origin(base), typing.get_args(base)
    alias_value = getattr(origin if origin is not None else base, "__value__", None)  # PEP 695 alias (numpy 2, 3.12+)
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


class _ArrayAttribute:
    """Reads an array field: a numpy view over the block, made once per proxy."""

    def __init__(self, field: ArrayField) -> None:
        self.name = field.name
        self.offset = field.offset
        self.shape = field.shape
        self.element = field.row.dtype

    def __get__(self, obj: Any, owner: type[Any] | None = None) -> Any:
        if obj is None:
            return self
        import numpy as np

        block = block_of(obj)
        view: Any = np.ndarray(
            self.shape, dtype=self.element, buffer=block.view_buffer(), offset=block.offset_of(obj) + self.offset
        )
        obj.__dict__[self.name] = view
        return view


class ArrayField(Field):
    """A fixed-shape numeric array field, zero-filled, read as a numpy view."""

    kind = "array"

    @classmethod
    def resolve(cls, declaration: Declaration) -> Field | None:
        spec, base = declaration.default, declaration.base
        is_array, named = _ndarray_annotation(base)
        if not isinstance(spec, ArraySpec):
            if is_array and declaration.storage is None:
                raise declaration.fail(
                    "an array needs a fixed shape in shared memory: use array(shape), "
                    "e.g. `grid: NDArray[np.float64] = array((64, 64))`"
                )
            return None
        if not is_array:
            raise declaration.fail(
                "array() declares a numpy array field; annotate it NDArray[np.float64] (or another dtype), "
                f"not {base!r}"
            )
        if declaration.constraints or declaration.storage is not None:
            raise declaration.fail("constraints are not supported on array fields")
        dtype = spec.dtype or named
        if dtype is None:
            raise declaration.fail(
                "the element type is unknown: annotate NDArray[np.float64] or pass array(shape, dtype=...)"
            )
        if named is not None and spec.dtype is not None and named != spec.dtype:
            raise declaration.fail(f"the annotation says {named} but array() says dtype={spec.dtype}")
        row = scalar_type_of_dtype(dtype.str) if dtype.isnative else None
        if row is None or row.python_type not in (int, float, bool):
            raise declaration.fail(
                f"arrays of {dtype} are not supported; use bool, int8..int64, uint8..uint64, "
                "float16, float32 or float64"
            )
        ctype: type[Any] = row.ctype
        for dim in reversed(spec.shape):
            ctype = ctype * dim
        dims = "".join(f"[{d}]" for d in spec.shape)
        return cls(
            declaration.name, declaration.owner, declaration.annotation, ctype, f"{row.c_name}{dims}",
            default=spec, scalar=row, shape=spec.shape,
        )  # fmt: skip

    def preparer(self) -> Preparer:
        import numpy as np

        target = self.row.dtype
        shape = self.shape
        qualname = self.qualname

        def prepare_array(value: Any) -> Any:
            try:
                source = np.asarray(value)
            except (ValueError, TypeError) as exc:
                raise FieldValueError(
                    f"{qualname}: {short_repr(value)} is not an array of shape {shape}: {exc}"
                ) from None
            if source.shape != shape:
                raise FieldValueError(f"{qualname}: got shape {source.shape}, the field's shape is {shape}")
            if source.dtype != target:
                _check_cast(qualname, source, target)
            return np.ascontiguousarray(source, dtype=target)

        return prepare_array

    def attribute(self, cfield: Any) -> Any:
        return _ArrayAttribute(self)

    def default_write(self) -> Any:
        return MISSING  # arrays start zero-filled

    def from_hash(self, entries: Mapping[str, bytes | None], prefix: str = "") -> Any:
        import numpy as np

        raw = self.hash_entry(entries, prefix)
        if len(raw) != self.size:
            raise ValueError(f"field {prefix + self.name!r} holds {len(raw):,} bytes, not the array's {self.size:,}")
        if self.row.python_type is bool and raw.strip(b"\0\1"):
            raise ValueError(f"field {prefix + self.name!r} holds bytes other than 0 and 1 in a bool array")
        return np.frombuffer(raw, dtype=self.row.dtype).reshape(self.shape)  # read-only: it is a copy

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "dtype": self.row.dtype_str, "shape": list(self.shape)}

    @classmethod
    def entry_dtype(cls, entry: dict[str, Any]) -> Any:
        import numpy as np

        dtype, shape = entry["dtype"], entry["shape"]
        row = scalar_type_of_dtype(dtype) if isinstance(dtype, str) else None
        if row is None or row.python_type not in (bool, int, float):
            raise ValueError(f"array field {entry['name']!r} has a dtype {dtype!r} that no array field stores")
        if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
            raise ValueError(f"array field {entry['name']!r} has a shape {shape!r}, not a list of sizes")
        return np.dtype((np.dtype(dtype), tuple(shape)))

    @classmethod
    def decode(cls, item: Any, entry: dict[str, Any], for_json: bool) -> Any:
        return json_number(item.tolist()) if for_json else item  # a view into the caller's private copy

    def model_type(self) -> Any:
        return _array_copy_type()


def _check_cast(qualname: str, source: Any, target: Any) -> None:
    import numpy as np

    kinds = source.dtype.kind + target.kind
    integers = kinds in ("ii", "iu", "ui", "uu")  # any width and sign: the range check below decides
    same_kind = np.can_cast(source.dtype, target, casting="same_kind")
    if (source.dtype.kind == "b") != (target.kind == "b") or not (integers or same_kind):
        raise FieldTypeError(
            f"{qualname}: cannot store {source.dtype} values in a {target} array without changing them"
        )
    if source.size == 0:
        return
    if target.kind in "iu" and source.dtype.kind in "iu":
        info = np.iinfo(target)
        low, high = source.min(), source.max()
        if low < info.min or high > info.max:
            raise FieldValueError(
                f"{qualname}: values {low}..{high} are out of range for {target} (allowed {info.min}..{info.max})"
            )
    if target.kind == "f" and source.dtype.kind == "f":
        finite = source[np.isfinite(source)]
        limit = np.finfo(target).max
        if finite.size and np.abs(finite).max() > limit:
            raise FieldValueError(f"{qualname}: values beyond ±{limit:g} would become inf in a {target} array")


def _array_to_list(value: Any) -> list[Any]:
    listed: list[Any] = value.tolist()
    return listed


_ARRAY_COPY_TYPE: list[Any] = []


def _array_copy_type() -> Any:
    """Snapshots hold arrays as read-only numpy copies that dump to lists in JSON."""
    if not _ARRAY_COPY_TYPE:
        from typing import Annotated

        import numpy as np
        from pydantic import PlainSerializer

        _ARRAY_COPY_TYPE.append(
            Annotated[np.ndarray, PlainSerializer(_array_to_list, return_type=list, when_used="json")]
        )
    return _ARRAY_COPY_TYPE[0]
