"""Snapshots: a consistent copy of a struct as a frozen pydantic model.

The bytes of the struct are copied under its lock (one ``memcpy``); the model is then built from
that private copy outside the lock, so other processes wait only for the copy.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np

from ._checks import decode_text
from ._fields import Field, annotated
from ._layout import Layout
from ._struct import locked_bytes

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["record_to_model", "snapshot_model", "take_snapshot"]


def _array_to_list(value: np.ndarray[Any, Any]) -> list[Any]:
    listed: list[Any] = value.tolist()
    return listed


_MODEL_ATTRIBUTE = "_shm_snapshot_model_"


@functools.cache
def _array_copy_type() -> Any:
    # pydantic is imported on first use: a spawned worker that never snapshots does not pay for it.
    from pydantic import PlainSerializer

    return Annotated[np.ndarray, PlainSerializer(_array_to_list, return_type=list, when_used="json")]


def _model_type(field: Field) -> Any:
    if field.kind == "array":
        return _array_copy_type()
    if field.kind == "nested":
        return snapshot_model(field.schema)  # type: ignore[arg-type]
    python_type = str if field.kind == "text" else field.scalar.python_type  # type: ignore[union-attr]
    return annotated(python_type, field.constraints) if field.constraints else python_type


def snapshot_model(schema: type[Any]) -> type[BaseModel]:
    """The frozen pydantic model class that ``schema``'s snapshots are instances of.

    Its name is the schema's name plus ``Snapshot``; its fields are the schema's fields with their
    Python types and constraints (nested schemas as nested models, arrays as numpy arrays).
    """
    model = schema.__dict__.get(_MODEL_ATTRIBUTE)
    if model is None:
        from pydantic import ConfigDict, create_model

        layout: Layout = schema.layout
        definitions: dict[str, Any] = {f.name: (_model_type(f), ...) for f in layout.fields}
        config = ConfigDict(frozen=True, arbitrary_types_allowed=True, ser_json_bytes="base64", val_json_bytes="base64")
        model = create_model(
            f"{schema.__name__}Snapshot", __config__=config, __module__=schema.__module__, **definitions
        )
        setattr(schema, _MODEL_ATTRIBUTE, model)
    return model  # type: ignore[no-any-return]


def record_to_model(schema: type[Any], record: np.void) -> BaseModel:
    """The snapshot model of one record (a private copy: arrays in the model are views of it)."""
    layout: Layout = schema.layout
    values: dict[str, Any] = {}
    for f in layout.fields:
        item = record[f.name]
        if f.kind == "scalar":
            values[f.name] = item.item()
        elif f.kind == "text":
            values[f.name] = decode_text(bytes(item))
        elif f.kind == "array":
            values[f.name] = item  # a view into the private read-only copy
        else:
            values[f.name] = record_to_model(f.schema, item)  # type: ignore[arg-type]
    return snapshot_model(schema).model_construct(**values)


def take_snapshot(obj: Any) -> BaseModel:
    """Copy ``obj``'s bytes under its lock and build its snapshot model from the copy."""
    schema = type(obj)
    raw = locked_bytes(obj, schema.layout.size)
    record = np.frombuffer(raw, dtype=schema.dtype)[0]
    return record_to_model(schema, record)
