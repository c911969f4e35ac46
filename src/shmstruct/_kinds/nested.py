"""Nested fields: ``origin: Vec3 = nested()``, another schema stored in place.

Read as ctypes' own sub-structure proxy (a live view into the same block, under the same lock);
written whole (``s.origin = other``, a snapshot of one, or a mapping of its fields) under the lock.
"""

from __future__ import annotations

from collections.abc import Mapping

from .._errors import FieldTypeError, short_repr
from .._proxy import locked_bytes
from .._specs import NestedSpec
from ._base import MISSING, Declaration, Field, compiled_schema

TYPE_CHECKING = False  # typing is for type checkers only: importing it costs a spawned child ~5 ms
if TYPE_CHECKING:
    from typing import Any

    from ._base import Preparer

__all__ = ["NestedField"]


class NestedField(Field):
    """A schema nested in place."""

    kind = "nested"

    @classmethod
    def resolve(cls, declaration: Declaration) -> Field | None:
        base, default = declaration.base, declaration.default
        nested_schema = compiled_schema(base)
        if nested_schema is None:
            if isinstance(default, NestedSpec):
                raise declaration.fail(f"nested() needs a SharedStruct subclass as the annotation, not {base!r}")
            return None
        if declaration.constraints or declaration.storage is not None:
            raise declaration.fail(
                "constraints are not supported on nested fields; put them on the nested class's fields"
            )
        if not isinstance(default, NestedSpec) and default is not MISSING:
            raise declaration.fail(
                f"a nested field's default is written nested() or nested(field=value), not {short_repr(default)}"
            )
        if isinstance(default, NestedSpec) and default.schema is not None and default.schema is not base:
            raise declaration.fail(
                f"nested({default.schema.__name__}, ...) does not match the annotation {base.__name__}"
            )
        return cls(
            declaration.name, declaration.owner, declaration.annotation, base, f"struct {base.__name__}",
            default=default, schema=base,
        )  # fmt: skip

    @property
    def compiled(self) -> Any:
        """The nested class's compiled schema."""
        return compiled_schema(self.schema)

    def preparer(self) -> Preparer:
        schema_class: Any = self.schema
        compiled = self.compiled
        size = self.size
        qualname = self.qualname

        def prepare_nested(value: Any) -> bytes:
            if isinstance(value, schema_class):
                return locked_bytes(value, size)
            proxied = getattr(type(value), "__shm_schema_of_proxy__", None)  # a proxy of a remote store's
            if proxied is not None and proxied.cls is schema_class:
                value = value.__shm_snapshot__()
            if hasattr(value, "model_dump") and not isinstance(value, type):  # a snapshot of the nested schema
                value = value.model_dump()
            if not isinstance(value, Mapping):
                raise FieldTypeError(
                    f"{qualname} expects a {schema_class.__name__}, a snapshot of one or a mapping of its fields, "
                    f"got {short_repr(value)}"
                )
            try:
                image: bytes = compiled.image(value)
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"{qualname}: {exc}") from exc
            return image

        return prepare_nested

    def hash_keys(self, prefix: str = "") -> list[str]:
        inner = f"{prefix}{self.name}."
        return [key for f in self.compiled.fields for key in f.hash_keys(inner)]

    def to_hash(self, base: int, prefix: str, out: dict[str, bytes]) -> None:
        inner = f"{prefix}{self.name}."
        for f in self.compiled.fields:
            f.to_hash(base + self.offset, inner, out)

    def from_hash(self, entries: Mapping[str, bytes | None], prefix: str = "") -> Any:
        inner = f"{prefix}{self.name}."
        return {f.name: f.from_hash(entries, inner) for f in self.compiled.fields}

    def default_write(self) -> Any:
        default = self.default
        return default.overrides if isinstance(default, NestedSpec) else default

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "schema": self.compiled.description}

    @classmethod
    def entry_dtype(cls, entry: dict[str, Any]) -> Any:
        from . import record_dtype

        return record_dtype(entry["schema"])

    @classmethod
    def members(cls, entry: dict[str, Any]) -> dict[str, Any] | None:
        members: dict[str, Any] = entry["schema"]
        return members

    @classmethod
    def decode(cls, item: Any, entry: dict[str, Any], for_json: bool) -> Any:
        from . import decode_record

        return decode_record(item, entry["schema"], for_json)

    def model_type(self) -> Any:
        return self.compiled.snapshot_model

    def model_value(self, decoded: Any) -> Any:
        return self.compiled.model_from_values(decoded)
