"""Field specifiers: what a user writes after ``=`` for fields that need more than a default value.

At run time each specifier returns a small spec object; the typing facade (``__init__.pyi``) types
each as the value the field holds (``text()`` as ``str``, ``array()`` as an ``NDArray``), so that
``label: str = text(16)`` type-checks, ``label: int = text(16)`` does not, and the type checker
counts the field as having a default.
"""

from __future__ import annotations

import operator

from ._record import Record

TYPE_CHECKING = False  # typing is for type checkers only: importing it costs a spawned child ~5 ms
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ArraySpec", "AtomicSpec", "NestedSpec", "TextSpec", "array", "atomic", "nested", "text"]


class ArraySpec(Record):
    """A fixed-shape numeric array field, zero-filled, read as a numpy view."""

    shape: tuple[int, ...]
    dtype: Any  # a numpy dtype, or None when the annotation names it


class TextSpec(Record):
    """A text field of at most ``max_bytes`` UTF-8 bytes."""

    max_bytes: int
    default: str


class NestedSpec(Record):
    """A schema nested in place; ``overrides`` replace some of the nested class's defaults."""

    overrides: dict[str, Any]
    schema: type[Any] | None = None


class AtomicSpec(Record):
    """An atomic integer field and its initial value."""

    default: Any


def _positive_int(value: object, what: str) -> int:
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{what} must be an int, got {type(value).__name__} {value!r}") from None
    if number <= 0 or isinstance(value, bool):
        raise ValueError(f"{what} must be a positive int, got {value!r}")
    return number


def array(shape: int | tuple[int, ...], dtype: Any = None) -> Any:
    """Declare a fixed-shape array field, stored in place and read as a zero-copy numpy view.

    Args:
        shape: The array's shape, e.g. ``(64, 64)``; an int means a 1-D array.
        dtype: The element type. Optional when the annotation names it, as in
            ``NDArray[np.float64]``; when both are given they must agree.

    Returns:
        A spec that the schema turns into the field.

    Example:
        ``grid: NDArray[np.float64] = array((64, 64))``
    """
    dims = (shape,) if not isinstance(shape, tuple) else shape
    checked = tuple(_positive_int(d, "array() shape entries") for d in dims)
    if not checked:
        raise ValueError("array() needs at least one dimension, e.g. array((3,)); use a scalar field for one value")
    if dtype is None:
        return ArraySpec(checked, None)
    import numpy as np  # an array field needs numpy anyway

    return ArraySpec(checked, np.dtype(dtype))


def text(max_bytes: int, default: str = "") -> Any:
    """Declare a text field holding at most ``max_bytes`` bytes of UTF-8.

    Args:
        max_bytes: The capacity in bytes (a character may take up to 4).
        default: The initial value.

    Example:
        ``label: str = text(16)``
    """
    return TextSpec(_positive_int(max_bytes, "text() max_bytes"), default)


def nested(schema: type[Any] | None = None, /, **overrides: Any) -> Any:
    """Declare a field that holds another schema in place, in the same shared block.

    The nested struct starts with its own class's defaults; keyword arguments override some.
    Naming the class (``nested(Vec3, z=1.0)``) lets a type checker see the default's type; it
    must then match the annotation.

    Example:
        ``origin: Vec3 = nested()`` or ``origin: Vec3 = nested(z=1.0)``
    """
    if schema is not None and not isinstance(schema, type):
        raise TypeError(f"nested() takes the nested SharedStruct class, then keyword overrides; got {schema!r}")
    return NestedSpec(dict(overrides), schema)


def atomic(default: int = 0) -> Any:
    """Declare the default of an atomic integer field (``Atomic[int]`` and its sized variants).

    Args:
        default: The initial value (checked against the field's range when the class is made).

    Example:
        ``hits: Atomic[int] = atomic()`` or ``budget: Atomic[shmstruct.uint32] = atomic(100)``
    """
    return AtomicSpec(default)
