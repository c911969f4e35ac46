"""Atomic integer fields: ``hits: Atomic[int] = atomic()``.

The field is a 32- or 64-bit integer read as an :class:`~shmstruct.Atomic` (a C object over the
shared value, made once per proxy and cached in its ``__dict__``, so ``s.hits.add(1)`` is a
dictionary hit and one C call). ``s.hits = 5`` is a checked atomic store that wakes waiters.
"""

from __future__ import annotations

import ctypes

from .._errors import short_repr
from .._header import CHANGES
from .._native import Atomic
from .._proxy import block_of
from .._specs import AtomicSpec
from .._types import scalar_type_for_python
from ._base import MISSING, Declaration, Field, split_annotated, storage_from_metadata
from .scalar import ScalarField

TYPE_CHECKING = False  # typing is for type checkers only: importing it costs a spawned child ~5 ms
if TYPE_CHECKING:
    from typing import Any

    from ._base import Store

__all__ = ["AtomicField"]

_ATOMIC_SIZES = (4, 8)


class _AtomicAttribute:
    """Reads an atomic field: the :class:`Atomic` over it, made once per proxy."""

    def __init__(self, field: AtomicField) -> None:
        self.name = field.name
        self.offset = field.offset
        self.c_name = field.row.c_name
        self.qualname = field.qualname

    def __get__(self, obj: Any, owner: type[Any] | None = None) -> Any:
        if obj is None:
            return self
        block = block_of(obj)
        value: Atomic[int] = Atomic(
            block.view_buffer(), block.offset_of(obj) + self.offset, self.c_name, self.qualname, CHANGES
        )
        obj.__dict__[self.name] = value
        return value


def _is_atomic(base: Any) -> bool:
    # Atomic[int] is a types.GenericAlias (Atomic.__class_getitem__), which typing is not needed to read.
    return base is Atomic or getattr(base, "__origin__", None) is Atomic


class AtomicField(ScalarField):
    """An atomic 32- or 64-bit integer: lock-free ``load``/``store``/``add``/``compare_exchange``/``wait``."""

    kind = "atomic"

    @property
    def atomic(self) -> bool:
        return True

    @classmethod
    def resolve(cls, declaration: Declaration) -> Field | None:
        is_spec = isinstance(declaration.default, AtomicSpec)
        if not _is_atomic(declaration.base):
            if is_spec:
                raise declaration.fail(
                    "atomic() declares an atomic field: annotate it Atomic[int] (or Atomic[shmstruct.uint32], ...), "
                    f"not {declaration.base!r}"
                )
            return None
        if declaration.storage is not None:
            raise declaration.fail("give an atomic field's C type inside Atomic[...], e.g. Atomic[shmstruct.uint32]")
        if declaration.constraints:
            raise declaration.fail(
                "constraints are not supported on atomic fields (the range of the C type is checked)"
            )
        default = declaration.default
        if is_spec:
            default = default.default
        elif default is not MISSING:
            shown = short_repr(default, 40)
            raise declaration.fail(f"an atomic field's default is written atomic() or atomic({shown}), not {shown}")
        arguments = getattr(declaration.base, "__args__", ())
        inner, metadata = split_annotated(arguments[0] if arguments else int)
        row, _ = storage_from_metadata(declaration.owner, declaration.name, metadata)
        if row is None:
            row = scalar_type_for_python(inner) if inner is int else None
        if (
            row is None
            or row.python_type is not int
            or ctypes.sizeof(row.ctype) not in _ATOMIC_SIZES
            or inner is not int
        ):
            raise declaration.fail(
                f"atomic fields hold 32- or 64-bit integers: Atomic[int] (int64), Atomic[shmstruct.int32], "
                f"Atomic[shmstruct.uint32] or Atomic[shmstruct.uint64], not Atomic[{getattr(inner, '__name__', inner)}]"
                + (f" ({row.c_name})" if row is not None else "")
            )
        return cls(
            declaration.name, declaration.owner, declaration.annotation, row.ctype, f"_Atomic {row.c_name}",
            default=default, scalar=row,
        )  # fmt: skip

    def storer(self, cfield: Any) -> Store:
        """An atomic store (which wakes its waiters) in a block; a plain store into private memory
        (a default image, a log row not yet published)."""
        plain = super().storer(cfield)
        attribute = self.attribute(cfield)
        name = self.name

        def store(obj: Any, value: Any) -> None:
            atomic = obj.__dict__.get(name)
            if atomic is None:
                try:
                    atomic = attribute.__get__(obj)
                except RuntimeError:  # not in shared memory
                    plain(obj, value)
                    return
            atomic.store(value)

        return store

    def attribute(self, cfield: Any) -> Any:
        return _AtomicAttribute(self)

    def fast_write(self, cfield: Any, store: Store) -> tuple[Any, Any, Any, type] | None:
        row = self.row
        return (store, row.low, row.high, int)
