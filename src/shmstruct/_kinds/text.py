"""Text fields: ``label: str = text(16)``, at most 16 bytes of UTF-8 in place.

Stored as the UTF-8 bytes padded with NUL; read under the lock, so that a concurrent write is never
seen half done. Bytes written through a raw numpy view may not be UTF-8: they read as U+FFFD,
never an error.
"""

from __future__ import annotations

import ctypes

from .._errors import FieldTypeError, FieldValueError, short_repr
from .._proxy import lock_of
from .._specs import TextSpec
from ._base import Declaration, Field, annotated_if

TYPE_CHECKING = False  # typing is for type checkers only: importing it costs a spawned child ~5 ms
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from ._base import Preparer

__all__ = ["TextField", "decode_text"]


def decode_text(stored: bytes) -> str:
    """The str a text field holds: UTF-8 up to the first NUL."""
    return stored.split(b"\0", 1)[0].decode("utf-8", "replace")


class _TextAttribute:
    """Reads a text field under the lock."""

    def __init__(self, offset: int, size: int) -> None:
        self.offset = offset
        self.size = size

    def __get__(self, obj: Any, owner: type[Any] | None = None) -> Any:
        if obj is None:
            return self
        with lock_of(obj):
            raw = ctypes.string_at(ctypes.addressof(obj) + self.offset, self.size)
        return decode_text(raw)


class TextField(Field):
    """A text field of at most ``max_bytes`` UTF-8 bytes."""

    kind = "text"

    @classmethod
    def resolve(cls, declaration: Declaration) -> Field | None:
        spec, base = declaration.default, declaration.base
        if not isinstance(spec, TextSpec):
            if base is str and declaration.storage is None:
                raise declaration.fail(
                    "a str needs a fixed capacity in shared memory: use text(max_bytes), e.g. `label: str = text(32)`"
                )
            return None
        if declaration.storage is not None:
            raise declaration.fail("text() does not go with a scalar type in Annotated[...]")
        if base is not str:
            raise declaration.fail(f"text() declares a str field, but the annotation says {base!r}")
        n = spec.max_bytes
        return cls(
            declaration.name, declaration.owner, declaration.annotation, ctypes.c_char * n, f"char[{n}]",
            default=spec.default, max_bytes=n, constraints=declaration.constraints,
        )  # fmt: skip

    def preparer(self) -> Preparer:
        capacity = self.max_bytes or 0
        qualname = self.qualname

        def prepare_text(value: Any) -> bytes:
            if not isinstance(value, str):
                raise FieldTypeError(f"{qualname} expects a str, got {type(value).__name__} {short_repr(value)}")
            try:
                data = value.encode("utf-8")
            except UnicodeEncodeError:
                raise FieldValueError(f"{qualname}: {short_repr(value)} cannot be encoded as UTF-8") from None
            if len(data) > capacity:
                raise FieldValueError(
                    f"{qualname}: {short_repr(value)} is {len(data)} UTF-8 bytes; the field holds at most "
                    f"{capacity} (declared text({capacity}))"
                )
            if b"\0" in data:
                raise FieldValueError(
                    f"{qualname}: text cannot contain NUL characters ('\\x00'), got {short_repr(value)}"
                )
            return data.ljust(capacity, b"\0")

        return self.with_constraints(prepare_text, str, check_stored=False)

    def attribute(self, cfield: Any) -> Any:
        return _TextAttribute(self.offset, self.size)

    def to_hash(self, base: int, prefix: str, out: dict[str, bytes]) -> None:
        out[prefix + self.name] = ctypes.string_at(base + self.offset, self.size).split(b"\0", 1)[0]

    def from_hash(self, entries: Mapping[str, bytes | None], prefix: str = "") -> Any:
        raw = self.hash_entry(entries, prefix)
        try:
            value = raw.decode("utf-8")
            self.checks(value)  # length, NUL and constraints, as a write checks them
        except (ValueError, TypeError):
            raise ValueError(
                f"field {prefix + self.name!r} holds {short_repr(raw)}, not UTF-8 text of at most "
                f"{self.max_bytes} bytes"
            ) from None
        return value

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "max_bytes": self.max_bytes}

    @classmethod
    def entry_dtype(cls, entry: dict[str, Any]) -> Any:
        import numpy as np

        max_bytes = entry["max_bytes"]
        if type(max_bytes) is not int or max_bytes < 1:
            raise ValueError(f"text field {entry['name']!r} has max_bytes {max_bytes!r}, not a size")
        return np.dtype(f"S{max_bytes}")

    @classmethod
    def decode(cls, item: Any, entry: dict[str, Any], for_json: bool) -> Any:
        return decode_text(bytes(item))

    def model_type(self) -> Any:
        return annotated_if(str, self.constraints)
