"""The command line's output: a segment's contents as a stable JSON document, or as text for people
(one line per field or row, arrays summarised like numpy's repr, what changed since the previous
view marked).

The JSON documents are a documented interface (``docs/guide/cli.md``): :data:`FORMAT_VERSION`
changes when a key is removed or changes meaning; keys may be added within a version. Values are
decoded by the field kinds (:func:`shmstruct._kinds.decode_record`), so a new kind of field shows
here without a change.

Everything shown comes from a segment's header and data, which anyone on the machine may have
written: text shown to people has control characters escaped, so that a segment cannot drive the
terminal, and a creation time out of range reads as unknown.
"""

from __future__ import annotations

import datetime
import json
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._contents import Contents
from ._kinds import decode_record, members
from ._record import Record

__all__ = [
    "FORMAT_VERSION",
    "SUMMARY_THRESHOLD",
    "Leaf",
    "dumps",
    "leaves",
    "local_time",
    "printable",
    "show_document",
    "show_text",
]

#: The version of the JSON documents that ``list --json``, ``show --json`` and ``watch --json`` print.
FORMAT_VERSION = 1
#: Arrays with more elements than this are summarised in text: the first and last 3 along each
#: axis, with ``...`` between (numpy's repr does the same from 1000 elements).
SUMMARY_THRESHOLD = 20
_EDGE_ITEMS = 3


class Leaf(Record):
    """A field that holds a value (not a nested struct), with the path to it through nested structs.

    Attributes:
        path: Field names from the top-level schema down to the field.
        dtype: The field's numpy dtype (with the shape, for an array).
    """

    path: tuple[str, ...]
    dtype: Any

    @property
    def label(self) -> str:
        """The dotted path, as the text views name the field: ``origin.x``."""
        return ".".join(printable(part) for part in self.path)

    def value(self, decoded: dict[str, Any]) -> Any:
        """The field's value in a decoded record (nested structs are dicts)."""
        for part in self.path:
            decoded = decoded[part]
        return decoded

    def raw(self, records: Any) -> Any:
        """The field's bytes in each of ``records``, as a ``(rows, size)`` uint8 array."""
        column = records
        for part in self.path:
            column = column[part]
        return np.ascontiguousarray(column).view(np.uint8).reshape(len(records), self.dtype.itemsize)


def leaves(description: dict[str, Any], dtype: Any, path: tuple[str, ...] = ()) -> list[Leaf]:
    """The fields that hold values, of a validated description and its record dtype, in order."""
    found: list[Leaf] = []
    for entry in description["fields"]:
        name = entry["name"]
        field_dtype = dtype.fields[name][0]
        inner = members(entry)
        if inner is None:
            found.append(Leaf((*path, name), field_dtype))
        else:
            found.extend(leaves(inner, field_dtype, (*path, name)))
    return found


# ---------------------------------------------------------------------------------------- JSON


def dumps(document: dict[str, Any]) -> str:
    """One JSON document on one line, ASCII only (non-ASCII text is escaped): valid for every
    JSON parser, whatever the terminal's encoding."""
    return json.dumps(document, allow_nan=False, separators=(",", ":"))


def show_document(contents: Contents) -> dict[str, Any]:
    """The JSON document of ``show --json`` (and of each view of ``watch --json``)."""
    info = contents.info
    created = local_time(info.created_ns)
    document: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "name": contents.name,
        "kind": info.kind,
        "schema": info.schema_name,
        "created": None if created is None else created.isoformat(timespec="seconds"),
        "creator": info.creator,
        "lock_holder": contents.lock_holder,
        "consistent": contents.note is None,
        "note": contents.note,
        "fields": _json_fields(info.description, info.dtype),
    }
    values = [decode_record(record, info.description, for_json=True) for record in contents.records]
    if info.kind == "struct":
        document["values"] = values[0]
        return document
    document["rows"] = contents.length
    if info.kind == "log":
        document["capacity"] = info.rows
        document["appended"] = contents.appended
        document["ring"] = contents.ring
    document["first"] = contents.first
    document["values"] = values
    return document


def _json_fields(description: dict[str, Any], dtype: Any) -> list[dict[str, Any]]:
    """What each field is: its kind and C declaration from the description, where it lies and
    how numpy reads it from the validated record dtype."""
    fields = []
    for entry in description["fields"]:
        field_dtype, offset = dtype.fields[entry["name"]][:2]
        field = {
            "name": entry["name"],
            "kind": str(entry["kind"]),
            "c": str(entry.get("c", "?")),
            "offset": offset,
            "size": field_dtype.itemsize,
        }
        inner = members(entry)
        if inner is None:
            field["dtype"] = field_dtype.base.str
            field["shape"] = list(field_dtype.shape)
        else:
            field["schema"] = str(inner.get("schema", "?"))
            field["fields"] = _json_fields(inner, field_dtype)
        fields.append(field)
    return fields


def local_time(created_ns: int) -> datetime.datetime | None:
    """A creation stamp as an aware local time, or None if it is out of range (a damaged header)."""
    try:
        return datetime.datetime.fromtimestamp(created_ns / 1e9).astimezone()
    except (OverflowError, OSError, ValueError):
        return None


# ---------------------------------------------------------------------------------------- text


def printable(text: str) -> str:
    """``text`` with control and other unprintable characters escaped (``\\x1b``)."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


_BOLD, _RESET = "\033[1m", "\033[0m"


def show_text(
    contents: Contents, previous: Contents | None = None, *, marks: bool = False, colour: bool = False
) -> str:
    """The text view of ``contents``: a summary line, then one line per field (a struct) or per
    row (a table or log).

    Args:
        contents: What to show.
        previous: The previous view of the same segment (``watch``); values that differ from it
            are marked.
        marks: Start every field or row line with a marker column: ``*`` changed since
            ``previous``, ``+`` a row ``previous`` did not show, blank otherwise; in a row, a
            changed value also ends in ``*``.
        colour: Also show changed values and new rows in bold (for a terminal).
    """
    info = contents.info
    replaced = previous is not None and (previous.identity != contents.identity or previous.info.dtype != info.dtype)
    if replaced:
        previous = None
    lines = [_summary(contents, previous)]
    if replaced:
        lines.append("(a new segment under this name since the previous view: nothing marked)")
    if contents.note is not None:
        lines.append(f"note: {contents.note}")
    fields = leaves(info.description, info.dtype)
    decoded = [decode_record(record, info.description, for_json=False) for record in contents.records]
    if info.kind == "struct":
        lines.extend(_struct_lines(contents, decoded, previous, fields, marks, colour))
    else:
        lines.extend(_row_lines(contents, decoded, previous, fields, marks, colour))
    return "\n".join(lines)


def _summary(contents: Contents, previous: Contents | None) -> str:
    info = contents.info
    schema = printable(info.schema_name)
    if info.kind == "struct":
        what = f"struct {schema}"
    elif info.kind == "table":
        what = f"table {schema}, {_count(contents.length, 'row')}"
    else:
        added = ""
        if previous is not None and contents.appended != previous.appended:
            added = f" (+{contents.appended - previous.appended:,})"
        what = (
            f"{'ring ' if contents.ring else ''}log {schema}, {_count(contents.length, 'row')} of {info.rows:,}, "
            f"{contents.appended:,} appended{added}"
        )
    created = local_time(info.created_ns)
    when = "at an unknown time" if created is None else f"{created:%Y-%m-%d %H:%M:%S}"
    line = f"{contents.name}: {what}, created {when} by process {info.creator}"
    if contents.lock_holder is not None:
        line += f"; lock held by process {contents.lock_holder}"
    return line


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _changed_rows(contents: Contents, previous: Contents | None, fields: Sequence[Leaf]) -> list[list[bool] | None]:
    """For each row read: which fields changed since ``previous``, or None if it did not show the row."""
    count = len(contents.records)
    if previous is None:
        return [[False] * len(fields) for _ in range(count)]
    offset = contents.first - previous.first
    changed: list[list[bool] | None] = [None] * count
    for position in range(count):
        if 0 <= position + offset < len(previous.records):
            changed[position] = []
    for leaf in fields:
        now, before = leaf.raw(contents.records), leaf.raw(previous.records)
        for position, flags in enumerate(changed):
            if flags is not None:
                flags.append(not np.array_equal(now[position], before[position + offset]))
    return changed


def _struct_lines(
    contents: Contents,
    decoded: Sequence[dict[str, Any]],
    previous: Contents | None,
    fields: Sequence[Leaf],
    marks: bool,
    colour: bool,
) -> list[str]:
    [changed] = _changed_rows(contents, previous, fields)
    assert changed is not None  # a struct's one row is always in the previous view
    width = max((len(leaf.label) for leaf in fields), default=0)
    lines = []
    for leaf, flag in zip(fields, changed, strict=True):
        [text] = _texts(leaf, decoded)
        value = f"{_BOLD}{text}{_RESET}" if flag and colour else text
        line = f"{leaf.label.ljust(width)}  {value}"
        lines.append(f"{'*' if flag else ' '} {line}" if marks else line)
    return lines


def _row_lines(
    contents: Contents,
    decoded: Sequence[dict[str, Any]],
    previous: Contents | None,
    fields: Sequence[Leaf],
    marks: bool,
    colour: bool,
) -> list[str]:
    if contents.length == 0:
        return ["(no rows)"]
    oldest = contents.appended - contents.length if contents.info.kind == "log" else 0
    before = contents.first - oldest
    after = contents.length - before - len(contents.records)
    lines = []
    if before:
        lines.append(f"... {_count(before, 'earlier row')} (--head N shows the first ones, --all every row)")
    if len(contents.records):
        lines.extend(_row_table(contents, decoded, previous, fields, marks, colour))
    if after:
        lines.append(f"... {_count(after, 'more row')} (--tail N shows the last ones, --all every row)")
    return lines


def _row_table(
    contents: Contents,
    decoded: Sequence[dict[str, Any]],
    previous: Contents | None,
    fields: Sequence[Leaf],
    marks: bool,
    colour: bool,
) -> list[str]:
    """A heading line, then one line per row read: its index, then one column per field."""
    records = contents.records
    changes = _changed_rows(contents, previous, fields)
    markers = [" "] + ["+" if flags is None else "*" if any(flags) else " " for flags in changes]
    # One column per field after the row numbers; a cell is its text and whether it changed.
    columns: list[list[tuple[str, bool]]] = [
        [("#", False), *((str(contents.first + i), False) for i in range(len(records)))]
    ]
    right_aligned = [True]
    for index, leaf in enumerate(fields):
        column = [(f"{leaf.label} " if marks else leaf.label, False)]
        for text, flags in zip(_texts(leaf, decoded), changes, strict=True):
            changed = flags is not None and flags[index]
            # A changed value ends in * (the space after the others keeps them aligned with it).
            column.append((f"{text}{'*' if changed else ' '}" if marks else text, changed))
        columns.append(column)
        right_aligned.append(all(_is_number(leaf.value(values)) for values in decoded))
    widths = [max(len(text) for text, _ in column) for column in columns]
    lines = []
    for line_index, marker in enumerate(markers):
        parts = []
        for column, width, right in zip(columns, widths, right_aligned, strict=True):
            text, changed = column[line_index]
            text = text.rjust(width) if right else text.ljust(width)
            parts.append(f"{_BOLD}{text}{_RESET}" if colour and changed else text)
        line = "  ".join(parts).rstrip()
        if colour and marker == "+":
            line = f"{_BOLD}{line}{_RESET}"
        lines.append(f"{marker} {line}" if marks else line)
    return lines


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _texts(leaf: Leaf, values: Sequence[dict[str, Any]]) -> list[str]:
    """How the field reads in each of the decoded records ``values``, in the text views."""
    return [_text(leaf.value(decoded), leaf.dtype) for decoded in values]


def _text(value: Any, dtype: Any) -> str:
    if isinstance(value, np.ndarray):
        return _one_line(value)
    if isinstance(value, float) and dtype.kind == "f":
        return str(dtype.type(value))  # numpy's shortest repr in the field's precision: a float32 0.1 reads 0.1
    if isinstance(value, (str, bytes)):
        return repr(value)  # quoted, control characters escaped
    return printable(str(value))


def _one_line(array: Any) -> str:
    """An array on one line, as numpy's repr shows it, summarised with ``...`` when large."""
    text = np.array2string(
        array, max_line_width=sys.maxsize, threshold=SUMMARY_THRESHOLD, edgeitems=_EDGE_ITEMS, separator=" "
    )
    text = " ".join(line.strip() for line in text.splitlines() if line.strip())
    if array.size > SUMMARY_THRESHOLD:
        text += f" (shape {'x'.join(map(str, array.shape))})"
    return text
