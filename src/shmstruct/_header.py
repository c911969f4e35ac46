"""The segment header: what a block holds, who uses it, and the state its lock and log share.

Every block starts with a header, then the data (a struct, a table's rows or a log's slots) at
``header_size``, a multiple of 64. Little-endian, byte offsets:

====== ============ ===================================================================
offset field        meaning
====== ============ ===================================================================
0      magic        ``b"SHMSTRCT"``, written last when a block is created
8      version      format version (:data:`VERSION`)
12     kind         1 struct, 2 table, 3 log
16     header_size  where the data starts
24     data_size    bytes of data after the header
32     fingerprint  SHA-256 of the description below
64     creator      pid of the creating process
72     created_ns   creation time, ``time.time_ns()``
80     changes      futex word bumped by atomic writes while someone waits (u32), then the
                    number of ``wait()`` calls on the block's atomic fields (u32)
88     flags        bit 0: keep (never removed automatically); bit 1: ring log; bit 2: removed
96     rows         table rows or log capacity (1 for a struct)
104    appended     appends finished so far (logs)
112    in_flight    references pickled and not yet unpickled
120    desc_length  bytes of the description
128    pinned_until until when (``time.time_ns()``) references in flight keep the block
192    lock         the user lock's record (:data:`LOCK_SIZE` bytes, see :mod:`shmstruct._native`):
                    a robust process-shared pthread mutex, its holder's pid, its re-entry
                    depth, takeovers from dead holders, the condition's futex word and waiters
320    header_lock  the same for the lock the library takes, briefly, while it updates the
                    users table or the references in flight, so that attaching never waits for
                    a user who holds the user lock
448    users        :data:`SLOTS` pids: the processes using the block (0: a free slot)
2496   description  the schema as zlib-compressed JSON (names, kinds, dtypes, offsets, shapes,
                    nested schemas); compressed so that a small struct's header and data share
                    one page (each page a new block touches costs a page fault)
====== ============ ===================================================================

The description lets ``python -m shmstruct show`` read a block without importing user code, and
its fingerprint lets ``attach`` refuse a block of another or a changed schema.
"""

from __future__ import annotations

import os
import struct
import zlib

from . import _native
from ._cpython import sha256
from ._errors import SchemaMismatchError, SegmentError
from ._record import Record

TYPE_CHECKING = False  # typing is for type checkers only: importing it costs a spawned child ~5 ms
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "APPENDED",
    "CHANGES",
    "FLAGS",
    "HEADER_LOCK",
    "HOLDER",
    "IN_FLIGHT",
    "KEEP",
    "KINDS",
    "LOCK",
    "MAGIC",
    "PINNED_UNTIL",
    "REMOVED",
    "RING",
    "SLOTS",
    "USERS",
    "VERSION",
    "HeaderInfo",
    "Template",
    "description_text",
    "read_field",
    "read_header",
    "schema_mismatch",
    "template_of",
    "write_field",
]

MAGIC = b"SHMSTRCT"
VERSION = 2  # 2: robust pthread mutexes (shmstruct._native) instead of POSIX semaphores; atomic fields
KINDS = {1: "struct", 2: "table", 3: "log"}
KIND_CODES = {kind: code for code, kind in KINDS.items()}

_FIXED = struct.Struct("<8sIIQQ32sqqIIQQqqQq")  # magic .. pinned_until, 136 bytes
CHANGES, FLAGS, ROWS, APPENDED, IN_FLIGHT, PINNED_UNTIL = 80, 88, 96, 104, 112, 128
LOCK, HEADER_LOCK = 192, 192 + _native.LOCK_SIZE
HOLDER = LOCK + _native.LOCK_HOLDER  # the user lock's holder pid
USERS = HEADER_LOCK + _native.LOCK_SIZE  # 448
SLOTS = 256  # the most processes that can use one block at once (a pool of 255 workers and its parent)
_SLOT_SIZE = 8
_DESCRIPTION = USERS + SLOTS * _SLOT_SIZE  # 2496
_USERS = struct.Struct(f"<{SLOTS}q")
_FIELD = struct.Struct("<q")
KEEP, RING, REMOVED = 1, 2, 4


class Template(Record):
    """The parts of a schema's header that are the same for every block of it."""

    description: dict[str, Any]
    text: bytes  # compressed
    fingerprint: bytes  # of the uncompressed JSON
    header_size: int


def make_template(description: dict[str, Any]) -> Template:
    """The header template of a schema description (its compiled schema keeps it)."""
    text = description_text(description)
    packed = zlib.compress(text, 9)
    header_size = -(-(_DESCRIPTION + len(packed)) // 64) * 64
    return Template(description, packed, sha256(text), header_size)


def description_text(description: dict[str, Any]) -> bytes:
    """A schema description as its canonical JSON (sorted keys, no spaces): what the fingerprint hashes."""
    canonical = canonical_json(description)
    if canonical is None:
        import json

        canonical = json.dumps(description, sort_keys=True, separators=(",", ":"))
    return canonical.encode()


def canonical_json(value: Any) -> str | None:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"))`` for the plain data a schema
    description holds (dicts, lists, ints and printable ASCII strings), or ``None`` for anything
    else. Every process that attaches a struct computes its schema's fingerprint: this spares it
    importing :mod:`json` (and the JSON module stays the reference, see tests/test_kinds.py)."""
    if isinstance(value, str):
        plain = value.isascii() and value.isprintable() and '"' not in value and "\\" not in value
        return f'"{value}"' if plain else None
    if type(value) is int:
        return str(value)
    if isinstance(value, list):
        items = [canonical_json(item) for item in value]
        return None if None in items else "[" + ",".join(items) + "]"  # type: ignore[arg-type]
    if isinstance(value, dict):
        if not all(type(key) is str for key in value):
            return None
        entries = [(canonical_json(key), canonical_json(value[key])) for key in sorted(value)]
        if any(key is None or item is None for key, item in entries):
            return None
        return "{" + ",".join(f"{key}:{item}" for key, item in entries) + "}"
    return None


def template_of(schema: type[Any]) -> Template:
    """The header template of a schema class (made once, by its compiled schema)."""
    from ._schema import schema_of

    return schema_of(schema).header_template


def write_header(
    mapping: Any, template: Template, kind: str, data_size: int, rows: int, flags: int, creator: int, created_ns: int
) -> None:
    """Write a complete header into a fresh (zero-filled) block: its locks, slot 0 naming the
    creator, and the magic last, so that nobody attaches to a block whose locks are not ready."""
    fixed = _FIXED.pack(
        bytes(len(MAGIC)), VERSION, KIND_CODES[kind], template.header_size, data_size, template.fingerprint,
        creator, created_ns, 0, 0, flags, rows, 0, 0, len(template.text), 0,
    )  # fmt: skip
    mapping[: len(fixed)] = fixed
    _native.init_lock(mapping, LOCK)
    _native.init_lock(mapping, HEADER_LOCK)
    write_field(mapping, USERS, creator)
    mapping[_DESCRIPTION : _DESCRIPTION + len(template.text)] = template.text
    mapping[: len(MAGIC)] = MAGIC


class HeaderInfo(Record):
    """A block's header, validated (see :func:`read_header`).

    Attributes:
        head: The first :data:`FIXED_PART` bytes as they were read (flags, counts, users table).
        description: The schema description, checked against its fingerprint.
        record_dtype: The record dtype the description lays out, when validating the header
            built it (see :attr:`dtype`).
    """

    kind: str
    header_size: int
    data_size: int
    fingerprint: bytes
    creator: int
    created_ns: int
    flags: int
    rows: int
    description: dict[str, Any]
    record_dtype: Any = None
    head: bytes = b""

    @property
    def dtype(self) -> Any:
        """The numpy record dtype of the data (imports numpy)."""
        if self.record_dtype is not None:
            return self.record_dtype
        from ._kinds import record_dtype

        return record_dtype(self.description)

    @property
    def schema_name(self) -> str:
        """The name of the schema the block was created with."""
        return str(self.description.get("schema", "?"))


#: The fixed part of a header: everything before the description.
FIXED_PART = _DESCRIPTION
#: Bounds on what a header may announce; a real one is far smaller. They keep a damaged or hostile
#: header from making a reader allocate or read without limit.
MAX_HEADER_SIZE = 1 << 20
MAX_DESCRIPTION_SIZE = 8 << 20  # uncompressed


def read_header(fd: int, name: str, expected: Template | None = None) -> HeaderInfo:
    """Read and validate the header of block ``name`` from its open file ``fd``: bounded
    ``pread`` calls, no mapping. Every size is cross-checked against the others and against the
    file's size, and the description against its fingerprint and its own layout.

    When the header carries the fingerprint of ``expected`` (the schema the caller attaches with),
    its description is that schema's, byte for byte: it is not read again, nor its layout rebuilt
    (which would import numpy).

    Raises:
        SegmentError: Not a shmstruct block, another format version, truncated, or inconsistent;
            the message names the segment and what is wrong.
    """
    size = os.fstat(fd).st_size
    if size == 0:
        raise SegmentError(
            f"shared segment {name!r} is empty: not a shmstruct block, or one whose creation never finished"
        )
    head = os.pread(fd, FIXED_PART, 0)
    if len(head) < _FIXED.size or head[: len(MAGIC)] != MAGIC:
        raise SegmentError(f"shared segment {name!r} is not a shmstruct block (no shmstruct header)")
    (
        _,
        version,
        kind,
        header_size,
        data_size,
        fingerprint,
        creator,
        created_ns,
        _,
        _,
        flags,
        rows,
        _,
        _,
        desc_length,
        _,
    ) = _FIXED.unpack_from(head)
    if version != VERSION:
        raise SegmentError(
            f"shared segment {name!r} was written by shmstruct format {version}; this version reads format {VERSION}"
        )

    def damaged(what: str) -> SegmentError:
        return SegmentError(f"shared segment {name!r} is damaged: {what}")

    if kind not in KINDS:
        raise damaged(f"kind {kind} is none of {sorted(KINDS)}")
    if len(head) < FIXED_PART:
        raise damaged(f"it is {size:,} bytes, shorter than a header")
    if not 0 < desc_length <= MAX_HEADER_SIZE - FIXED_PART:
        raise damaged(f"the description's length {desc_length:,} is out of bounds")
    if header_size % 64 or not FIXED_PART + desc_length <= header_size <= MAX_HEADER_SIZE:
        raise damaged(
            f"header_size {header_size:,} does not hold a {desc_length:,}-byte description (or is not a multiple of 64)"
        )
    if size != header_size + data_size:
        raise damaged(f"it is {size:,} bytes, but its header announces {header_size:,} + {data_size:,}")
    if expected is not None and fingerprint == expected.fingerprint and desc_length == len(expected.text):
        description, dtype, itemsize = expected.description, None, expected.description["itemsize"]
    else:
        description = _parse_description(os.pread(fd, desc_length, FIXED_PART), desc_length, fingerprint, damaged)
        dtype = _record_dtype(description, damaged)
        itemsize = dtype.itemsize
    rows_expected = 1 if KINDS[kind] == "struct" else rows
    if rows_expected < 0 or data_size != rows_expected * itemsize:
        raise damaged(f"data_size {data_size:,} is not {rows_expected:,} rows of {itemsize:,} bytes")
    return HeaderInfo(
        KINDS[kind], header_size, data_size, fingerprint, creator, created_ns, flags, rows, description, dtype, head
    )


def _parse_description(text: bytes, desc_length: int, fingerprint: bytes, damaged: Any) -> dict[str, Any]:
    import json

    if len(text) != desc_length:
        raise damaged("its file ends inside the description")
    inflate = zlib.decompressobj()
    try:
        raw = inflate.decompress(text, MAX_DESCRIPTION_SIZE)
    except zlib.error:
        raise damaged("its schema description is not valid compressed data") from None
    if inflate.unconsumed_tail:
        raise damaged(f"its schema description decompresses to more than {MAX_DESCRIPTION_SIZE:,} bytes")
    if sha256(raw) != fingerprint:
        raise damaged("its schema description does not match its fingerprint")
    try:
        description = json.loads(raw)
    except (ValueError, RecursionError):
        raise damaged("its schema description is not valid JSON") from None
    if not isinstance(description, dict):
        raise damaged("its schema description is not a JSON object")
    return description


def _record_dtype(description: dict[str, Any], damaged: Any) -> Any:
    """The record dtype the description lays out (building it checks every field's type, shape
    and offset against the itemsize)."""
    from ._kinds import record_dtype

    try:
        dtype = record_dtype(description)
    except Exception as exc:
        raise damaged(f"its schema description does not lay out a record ({type(exc).__name__}: {exc})") from None
    if dtype.itemsize <= 0 or dtype.itemsize != description.get("itemsize"):
        raise damaged("its schema description's record size is inconsistent")
    return dtype


def check_schema(info: HeaderInfo, schema: type[Any], name: str) -> None:
    """Refuse a block whose schema differs from ``schema``, saying what differs.

    Raises:
        SchemaMismatchError: Another schema, or the same name with changed fields.
    """
    if info.fingerprint != template_of(schema).fingerprint:
        raise schema_mismatch(info.description, schema, f"shared segment {name!r}")


def schema_mismatch(theirs: dict[str, Any], schema: type[Any], place: str) -> SchemaMismatchError:
    """The error for a ``place`` (``"shared segment 'x'"``) whose schema description ``theirs``
    is not ``schema``'s, saying what differs."""
    ours = template_of(schema).description
    if theirs.get("schema") != ours["schema"]:
        return SchemaMismatchError(f"{place} holds schema {theirs.get('schema')!r}, not {ours['schema']!r}")
    differences = _differences(theirs, ours)
    return SchemaMismatchError(
        f"{place} holds a different version of {ours['schema']}: {'; '.join(differences) or 'the layout differs'}"
    )


def _differences(theirs: dict[str, Any], ours: dict[str, Any], prefix: str = "") -> list[str]:
    their_fields = {f["name"]: f for f in theirs.get("fields", [])}
    our_fields = {f["name"]: f for f in ours["fields"]}
    found: list[str] = []
    for field_name, mine in our_fields.items():
        other = their_fields.get(field_name)
        label = prefix + field_name
        if other is None:
            found.append(f"field {label!r} is missing there")
        elif isinstance(other.get("schema"), dict) and isinstance(mine.get("schema"), dict):  # nested structs
            found.extend(_differences(other["schema"], mine["schema"], label + "."))
        elif other != mine:
            found.append(
                f"field {label!r} is {other.get('c')} at offset {other.get('offset')} there, "
                f"{mine['c']} at offset {mine['offset']} here"
            )
    found.extend(f"field {prefix + n!r} exists only there" for n in their_fields if n not in our_fields)
    if not found and theirs.get("itemsize") != ours["itemsize"]:
        found.append(f"the struct is {theirs.get('itemsize')} bytes there, {ours['itemsize']} here")
    return found


def read_field(mapping: Any, offset: int) -> int:
    """The 64-bit integer header field at ``offset`` (one of the offsets above)."""
    value: int = _FIELD.unpack_from(mapping, offset)[0]
    return value


def write_field(mapping: Any, offset: int, value: int) -> None:
    """Set the 64-bit integer header field at ``offset``."""
    _FIELD.pack_into(mapping, offset, value)


def user_pids(mapping: Any) -> list[int]:
    """The pids recorded in the users table (0 = a free slot)."""
    return list(_USERS.unpack_from(mapping, USERS))


def slot_offset(index: int) -> int:
    """Where slot ``index`` of the users table lies."""
    return USERS + index * _SLOT_SIZE
