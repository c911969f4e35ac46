"""The layout compiler: a pure function from fields to a ctypes ``Structure`` and a numpy dtype.

The ctypes ``Structure`` decides every offset with the platform's native alignment; the numpy
dtype is then built from those offsets, through the same description the segment header stores
(never from the structure's PEP 3118 buffer format, which numpy can mis-read around padding), so
both describe exactly the same bytes.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Sequence

from ._kinds import Field, record_dtype
from ._record import Record

TYPE_CHECKING = False  # typing is for type checkers only: importing it costs a spawned child ~5 ms
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Layout", "compile_layout"]


class Layout(Record):
    """Where every field of a schema lives in its shared block.

    Attributes:
        name: The schema's class name.
        fields: Every field, parent fields first, with offsets and sizes.
        struct: A ctypes ``Structure`` with the same fields and offsets.
        size: The struct's size in bytes, trailing padding included.
        alignment: The struct's alignment in bytes.
    """

    name: str
    fields: tuple[Field, ...]
    struct: type[ctypes.Structure]
    size: int
    alignment: int

    @functools.cached_property
    def description(self) -> dict[str, Any]:
        """The schema as plain data (what the segment header stores): enough to rebuild its numpy
        dtype and to decode its values without importing the schema."""
        return {"schema": self.name, "itemsize": self.size, "fields": [f.describe() for f in self.fields]}

    @functools.cached_property
    def dtype(self) -> Any:
        """A numpy structured dtype with the same names, offsets and itemsize (imports numpy)."""
        return record_dtype(self.description)

    def field(self, name: str) -> Field:
        """The field called ``name``.

        Raises:
            KeyError: No such field; the message lists the fields.
        """
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.name} has no field {name!r}; fields: {', '.join(f.name for f in self.fields)}")

    def table(self) -> str:
        """A readable table: field, C type, offset and size, one row a field."""
        rows = [("field", "C type", "offset", "size")] + [
            (f.name, f.c_decl, str(f.offset), str(f.size)) for f in self.fields
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = [f"{self.name}: {self.size} bytes, aligned to {self.alignment}"]
        for row in rows:
            lines.append(
                f"  {row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]:>{widths[3]}}"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def compile_layout(name: str, own_fields: Sequence[Field], base: Layout | None = None) -> Layout:
    """Lay out a schema: ``base``'s fields first (unchanged), then ``own_fields``.

    Args:
        name: The schema's class name.
        own_fields: The fields the class declares itself, in declaration order.
        base: The parent schema's layout, if the class extends one.

    Returns:
        The layout. The same ``_fields_`` on a ``Structure`` subclass of ``base.struct`` give the
        same offsets, which is how the schema class itself is built.
    """
    parent: type[ctypes.Structure] = base.struct if base is not None else ctypes.Structure
    make_struct: Any = type(ctypes.Structure)
    struct: type[ctypes.Structure] = make_struct(
        f"{name}Layout", (parent,), {"_fields_": [(f.name, f.ctype) for f in own_fields]}
    )
    placed = tuple(
        f.replace(offset=getattr(struct, f.name).offset, size=getattr(struct, f.name).size) for f in own_fields
    )
    all_fields = (base.fields if base is not None else ()) + placed
    size = ctypes.sizeof(struct)
    return Layout(name, all_fields, struct, size, ctypes.alignment(struct))


def same_offsets(layout: Layout, struct: type[Any]) -> bool:
    """Whether ``struct`` places every field of ``layout`` where the layout says."""
    return ctypes.sizeof(struct) == layout.size and all(
        getattr(struct, f.name).offset == f.offset for f in layout.fields
    )
