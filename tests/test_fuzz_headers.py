"""Damaged segments, fuzzed: real headers of a struct, a table and a log, with fields set to random
values, bytes flipped and the file truncated. attach, peek (what ``list`` reads), show and remove
must raise nothing but SegmentError (or succeed), never hang, never die of a signal, and stay
within a memory bound.

The lock records are left alone: they are live state that only the processes using a block write
(a damaged mutex kind is refused; see test_hostile.py)."""

from __future__ import annotations

import os
import resource
import struct

import numpy as np
from helpers import unique_name
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

import shmstruct
from shmstruct import SharedStruct, array, text
from shmstruct._contents import Selection, read_contents
from shmstruct._header import FIXED_PART, HEADER_LOCK, LOCK
from shmstruct._inspect import peek, remove
from shmstruct._render import show_document, show_text

EXAMPLES = int(os.environ.get("SHMSTRUCT_FUZZ_EXAMPLES", "1000"))


class FuzzRow(SharedStruct):
    n: int = 1
    x: float = 2.0
    label: str = text(8, "hi")
    grid: NDArray[np.int32] = array((2, 3))


def _image(kind: str) -> bytes:
    """The bytes of a real segment of ``kind``."""
    if kind == "struct":
        made = FuzzRow()
    elif kind == "table":
        made = FuzzRow.table(3)
    else:
        made = FuzzRow.log(4)
        made.append(n=5)
    with open(f"/dev/shm/shms_{made.name}", "rb") as segment:
        image = segment.read()
    made.close()
    return image


IMAGES = {kind: _image(kind) for kind in ("struct", "table", "log")}
# (offset, struct format) of every field of the fixed header, as _header lays it out
FIELDS = [(8, "<I"), (12, "<I"), (16, "<Q"), (24, "<Q"), (32, "<32s"), (64, "<q"), (72, "<q"), (80, "<I"), (84, "<I"),
          (88, "<Q"), (96, "<Q"), (104, "<q"), (112, "<q"), (120, "<Q"), (128, "<q")]  # fmt: skip
LOCK_RECORDS = (range(LOCK, LOCK + 128), range(HEADER_LOCK, HEADER_LOCK + 128))
INTERESTING = [0, 1, 2, 3, 63, 64, 65, 4096, 2**31 - 1, 2**32 - 1, 2**63 - 1, 2**64 - 1]


def _mutate(image: bytes, field_edits: list[tuple[int, int]], flips: list[tuple[int, int]], cut: int | None) -> bytes:
    data = bytearray(image)
    for field, value in field_edits:
        offset, fmt = FIELDS[field % len(FIELDS)]
        size = struct.calcsize(fmt)
        if fmt.endswith("s"):
            data[offset : offset + size] = (value % 256).to_bytes(1, "little") * size
        else:
            data[offset : offset + size] = (value % 2 ** (8 * size)).to_bytes(size, "little")
    for position, byte in flips:
        at = position % max(len(data), 1)
        if not any(at in record for record in LOCK_RECORDS):
            data[at] ^= byte or 1
    if cut is not None:
        del data[cut % (len(data) + 1) :]
    return bytes(data)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(
    kind=st.sampled_from(sorted(IMAGES)),
    field_edits=st.lists(
        st.tuples(st.integers(0, 100), st.one_of(st.sampled_from(INTERESTING), st.integers(0, 2**64 - 1))), max_size=3
    ),
    flips=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=4),
    cut=st.one_of(
        st.none(), st.integers(0, 1 << 20), st.sampled_from([0, 7, 8, 135, FIXED_PART - 1, FIXED_PART, FIXED_PART + 5])
    ),
)
def test_damaged_headers_give_segment_errors_only(
    kind: str, field_edits: list[tuple[int, int]], flips: list[tuple[int, int]], cut: int | None
) -> None:
    name = unique_name(f"fuzz-{os.getpid()}")
    path = f"/dev/shm/shms_{name}"
    with open(path, "wb") as segment:
        segment.write(_mutate(IMAGES[kind], field_edits, flips, cut))
    try:
        try:
            state = peek(name)
            assert state.size == os.path.getsize(path)
        except shmstruct.SegmentError:
            pass
        try:
            contents = read_contents(name, Selection(None, 3))
            show_document(contents)
            show_text(contents, contents, marks=True)
        except shmstruct.SegmentError:
            pass
        for attach in (
            FuzzRow.attach,
            lambda n: shmstruct.Table.attach(n, FuzzRow),
            lambda n: shmstruct.Log.attach(n, FuzzRow),
        ):
            try:
                attached = attach(name)
            except (
                shmstruct.SegmentError,
                shmstruct.SharedMemoryGoneError,
            ):  # gone: an earlier attach's close removed it
                continue
            attached.close()
        try:
            remove(name, force=False)
        except (shmstruct.SegmentError, shmstruct.SharedMemoryGoneError):
            pass
    finally:
        if os.path.lexists(path):
            os.unlink(path)


def test_fuzzing_stays_within_a_memory_bound() -> None:
    # Runs after the fuzz test in the same process: a description that decompresses to hundreds of
    # megabytes, or a size that makes a reader allocate it, would show here.
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert peak_kib < 1_500_000, f"the suite's process reached {peak_kib / 1024:.0f} MiB"
