"""The compiled schema: one object per schema class, at ``cls.__shm_schema__``, that everything
else reads (the struct runtime, tables and logs, snapshots, the header).

It holds the fields and their layout, each field's write operations, the defaults, and (made on
first use) the numpy dtype, the defaults image, the header template and the snapshot model.
"""

from __future__ import annotations

import ctypes
import functools
import mmap
from collections.abc import Mapping

from ._errors import FieldTypeError, SchemaError, short_repr
from ._kinds import MISSING, Field, compiled_schema, decode_record
from ._layout import Layout
from ._record import Record

TYPE_CHECKING = False  # typing is for type checkers only: importing it costs a spawned child ~5 ms
if TYPE_CHECKING:
    from typing import Any

    from pydantic import BaseModel

    from ._header import Template
    from ._kinds._base import Preparer, Store

__all__ = ["FieldOps", "Schema", "from_address", "from_buffer", "schema_of"]

# ctypes' constructors are methods of the metaclass: called through it, a field named like one
# (``from_buffer``) cannot shadow them.
_STRUCT_TYPE: Any = type(ctypes.Structure)


def from_buffer(cls: type[Any], buffer: Any, offset: int = 0) -> Any:
    """A ``cls`` proxy over ``buffer`` at ``offset`` (it keeps the buffer exported while it lives)."""
    return _STRUCT_TYPE.from_buffer(cls, buffer, offset)


def from_address(cls: type[Any], address: int) -> Any:
    """A ``cls`` proxy at ``address`` (the caller keeps the memory alive)."""
    return _STRUCT_TYPE.from_address(cls, address)


class FieldOps(Record):
    """How the runtime writes one field: check the value (``prepare``), then ``store`` it (under
    the lock if ``locked``); ``fast`` is the C fast path's entry (see ``Field.fast_write``)."""

    field: Field
    prepare: Preparer
    store: Store
    locked: bool
    fast: tuple[Any, Any, Any, type] | None
    attribute: Any


class Schema:
    """The compiled form of one schema class.

    Attributes:
        cls: The schema class.
        layout: Its fields, offsets and size.
        ops: Each field's write operations, by name.
        required: The fields the constructor must be given.
        default_runs: The non-zero stretches of the defaults (offset, bytes): what a fresh,
            zero-filled struct still needs.
    """

    def __init__(self, cls: type[Any], layout: Layout, parent: Schema | None) -> None:
        self.cls = cls
        self.layout = layout
        self.name = cls.__name__
        # ctypes' own field descriptors, before any attribute of a field kind replaces them on the
        # class (an inherited field's is its parent's).
        own = {f.name: cls.__dict__[f.name] for f in layout.fields if parent is None or f.name not in parent.cfields}
        self.cfields: dict[str, Any] = {**(parent.cfields if parent is not None else {}), **own}
        self.ops: dict[str, FieldOps] = {f.name: _field_ops(f, self.cfields[f.name]) for f in layout.fields}
        self._steps = {name: (op.store, op.prepare) for name, op in self.ops.items()}
        self.required: tuple[str, ...] = tuple(f.name for f in layout.fields if f.required)
        self.default_runs = self._default_runs()

    @property
    def fields(self) -> tuple[Field, ...]:
        """Every field, parent fields first."""
        return self.layout.fields

    @property
    def size(self) -> int:
        """Bytes per struct (a table's row size)."""
        return self.layout.size

    @property
    def description(self) -> dict[str, Any]:
        """The schema as the segment header stores it."""
        return self.layout.description

    @property
    def dtype(self) -> Any:
        """The numpy record dtype (imports numpy)."""
        return self.layout.dtype

    @functools.cached_property
    def header_template(self) -> Template:
        """The parts of a segment header that are the same for every block of this schema."""
        from ._header import make_template

        return make_template(self.description)

    @functools.cached_property
    def default_image(self) -> bytes:
        """The bytes of one struct holding the defaults (tables, logs and nested values need it;
        a plain struct never does, so it is made on first use)."""
        buffer = bytearray(self.size)
        for offset, data in self.default_runs:
            buffer[offset : offset + len(data)] = data
        return bytes(buffer)

    @functools.cached_property
    def snapshot_model(self) -> type[BaseModel]:
        """The frozen pydantic model class that this schema's snapshots are instances of."""
        from pydantic import ConfigDict, create_model

        definitions: dict[str, Any] = {f.name: (f.model_type(), ...) for f in self.fields}
        config = ConfigDict(frozen=True, arbitrary_types_allowed=True, ser_json_bytes="base64", val_json_bytes="base64")
        model: type[BaseModel] = create_model(
            f"{self.name}Snapshot", __config__=config, __module__=self.cls.__module__, **definitions
        )
        return model

    # ------------------------------------------------------------------ writing

    def prepare(self, values: Mapping[str, Any], partial: bool) -> list[tuple[Store, Any]]:
        """Check every value before anything is written; unknown or missing names are errors.

        Raises:
            FieldTypeError: An unknown field, a missing required one, or a value of the wrong type.
            FieldValueError: A value out of range or against a constraint.
        """
        ops = self.ops
        if not values.keys() <= ops.keys():
            unknown = ", ".join(repr(name) for name in values if name not in ops)
            raise FieldTypeError(f"{self.name} has no field {unknown}; its fields are: {', '.join(ops) or '(none)'}")
        if not partial and self.required:
            missing = [name for name in self.required if name not in values]
            if missing:
                raise FieldTypeError(f"{self.name}() is missing required field(s): {', '.join(missing)}")
        steps = self._steps
        writes = []
        for name, value in values.items():
            store, prepare = steps[name]
            writes.append((store, prepare(value)))
        return writes

    def image(self, values: Mapping[str, Any]) -> bytes:
        """The bytes of one private struct holding the defaults updated with ``values``."""
        image = bytearray(self.default_image)
        scratch = from_buffer(self.cls, image)
        for store, prepared in self.prepare(values, partial=False):
            store(scratch, prepared)
        del scratch  # releases its export of ``image``
        return bytes(image)

    # ------------------------------------------------------------------ reading

    def model_from_values(self, values: Mapping[str, Any]) -> BaseModel:
        """The snapshot model of decoded values (nested structs as dicts become nested models)."""
        converted = {f.name: f.model_value(values[f.name]) for f in self.fields}
        return self.snapshot_model.model_construct(**converted)

    def record_to_model(self, record: Any) -> BaseModel:
        """The snapshot model of one numpy record (a private copy: arrays in the model are views of it)."""
        return self.model_from_values(decode_record(record, self.description, for_json=False))

    # ------------------------------------------------------------------ compiling

    def _default_runs(self) -> tuple[tuple[int, bytes], ...]:
        """The non-zero stretches of the defaults. Only the bytes up to the last field with a
        default are ever materialised, so a schema with a large array field (arrays start
        zero-filled) costs no large private buffer."""
        defaults: list[tuple[Field, Store, Any]] = []
        for f in self.fields:
            default = f.default_write()
            if default is MISSING:
                continue
            op = self.ops[f.name]
            try:
                defaults.append((f, op.store, op.prepare(default)))
            except (TypeError, ValueError) as exc:
                detail = str(exc).removeprefix(f"{f.qualname}: ").removeprefix(f"{f.qualname} ")
                raise SchemaError(f"{f.qualname}: the default {short_repr(default)} is invalid: {detail}") from None
        extent = max((f.offset + f.size for f, _, _ in defaults), default=0)
        scratch = mmap.mmap(-1, max(extent, 1))  # zero pages, allocated only where a default lands
        anchor = ctypes.c_char.from_buffer(scratch)
        base = ctypes.addressof(anchor)
        obj = from_address(self.cls, base)  # only fields below ``extent`` are written
        for _, store, prepared in defaults:
            store(obj, prepared)
        runs: list[tuple[int, bytes]] = []
        for f, _, _ in sorted(defaults, key=lambda entry: entry[0].offset):
            chunk = ctypes.string_at(base + f.offset, f.size)
            if not any(chunk):
                continue
            if runs and runs[-1][0] + len(runs[-1][1]) == f.offset:
                runs[-1] = (runs[-1][0], runs[-1][1] + chunk)
            else:
                runs.append((f.offset, chunk))
        del obj, anchor
        scratch.close()
        return tuple(runs)


def _field_ops(field: Field, cfield: Any) -> FieldOps:
    store = field.storer(cfield)
    return FieldOps(
        field, field.preparer(), store, field.locked, field.fast_write(cfield, store), field.attribute(cfield)
    )


def schema_of(cls: Any) -> Schema:
    """The compiled schema of a schema class.

    Raises:
        TypeError: ``cls`` is not a SharedStruct subclass that declares a schema.
    """
    schema = compiled_schema(cls)
    if schema is None:
        raise TypeError(f"expected a SharedStruct subclass that declares fields, got {short_repr(cls)}")
    found: Schema = schema
    return found
