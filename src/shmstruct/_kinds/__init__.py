"""The kinds of field: one class each, and the two things done across all of them.

Adding a kind of field means writing one :class:`Field` subclass in a module here and listing it
in :data:`KINDS`; nothing outside this package tests a field's kind.
"""

from __future__ import annotations

from ._base import MISSING, Declaration, Field, compiled_schema
from .array import ArrayField
from .atomic import AtomicField
from .nested import NestedField
from .scalar import ScalarField
from .text import TextField, decode_text

TYPE_CHECKING = False  # typing is for type checkers only: importing it costs a spawned child ~5 ms
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "KINDS",
    "MISSING",
    "ArrayField",
    "AtomicField",
    "Field",
    "NestedField",
    "ScalarField",
    "TextField",
    "compiled_schema",
    "decode_record",
    "decode_text",
    "members",
    "record_dtype",
    "resolve_field",
]

#: The kinds, in the order they are offered a declaration; the scalar kind takes whatever is left
#: (or explains why it cannot live in shared memory).
KINDS: tuple[type[Field], ...] = (AtomicField, NestedField, TextField, ArrayField, ScalarField)

_BY_NAME: dict[str, type[Field]] = {kind.kind: kind for kind in KINDS}


def resolve_field(owner: str, name: str, annotation: Any, default: Any) -> Field:
    """Turn one declaration ``name: annotation = default`` into a :class:`Field` (offset not yet known).

    Raises:
        SchemaError: The declaration cannot live in shared memory; the message says what to write.
    """
    declaration = Declaration.parse(owner, name, annotation, default)
    for kind in KINDS:
        field = kind.resolve(declaration)
        if field is not None:
            return field
    raise AssertionError("the scalar kind resolves every declaration")  # pragma: no cover


def _kind_of(entry: dict[str, Any]) -> type[Field]:
    kind = _BY_NAME.get(entry.get("kind"))  # type: ignore[arg-type]
    if kind is None:
        raise ValueError(f"field {entry.get('name')!r} has an unknown kind {entry.get('kind')!r}")
    return kind


def record_dtype(description: dict[str, Any]) -> Any:
    """The numpy structured dtype a schema description lays out: the one dtype builder (a schema's
    own ``dtype`` is built from its description too, so both always agree).

    Raises:
        ValueError, TypeError, KeyError: The description is not a valid layout.
    """
    import numpy as np

    entries = description["fields"]
    spec: Any = {
        "names": [entry["name"] for entry in entries],
        "formats": [_kind_of(entry).entry_dtype(entry) for entry in entries],
        "offsets": [entry["offset"] for entry in entries],
        "itemsize": description["itemsize"],
    }
    dtype = np.dtype(spec)
    return dtype


def decode_record(record: Any, description: dict[str, Any], for_json: bool) -> dict[str, Any]:
    """The values of one numpy record of a described schema, field by field: Python values (for
    snapshots) or JSON-ready ones (``for_json``, for the command line: numbers, booleans, strings,
    lists; a float that is not finite as ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``). Nested
    structs become dicts."""
    decoded = {}
    for entry in description["fields"]:
        kind = _kind_of(entry)
        decoded[entry["name"]] = kind.decode(kind.item(record, entry), entry, for_json)
    return decoded


def members(entry: dict[str, Any]) -> dict[str, Any] | None:
    """The description of the struct a described field holds in place, or None if it holds a value."""
    return _kind_of(entry).members(entry)
