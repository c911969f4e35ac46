"""Attach by name: any process, the same memory and lock, and a clear refusal of anything else."""

from __future__ import annotations

import mmap
import os
import pathlib
import re
import stat
import struct
from multiprocessing import shared_memory

import numpy as np
import pytest
from array_helpers import Entry, Particle, Vec3
from helpers import RUN_PREFIX, Counter, Script, segment_exists, unique_name
from state_helpers import State

import shmstruct
from shmstruct import (
    Log,
    SchemaMismatchError,
    SegmentError,
    SegmentExistsError,
    SegmentNameError,
    SharedMemoryGoneError,
    SharedStruct,
    Table,
)


def test_attach_in_the_same_process_shares_memory_and_lock() -> None:
    s = State(steps=4)
    t = State.attach(s.name)
    assert isinstance(t, State) and t.steps == 4 and t.lock is s.lock
    t.grid[1, 1] = 2.5
    assert s.grid[1, 1] == 2.5
    assert s.origin.lock is t.lock


def test_an_unrelated_process_attaches_by_name_alone(tmp_path: pathlib.Path) -> None:
    s = Counter(value=10)
    script = Script(
        str(tmp_path),
        f"""
        from helpers import Counter
        c = Counter.attach({s.name!r})
        with c.lock:
            c.value += 5
        print("done", c.value, flush=True)
        """,
    )
    assert script.expect("done") == "done 15"
    assert script.finish() == (0, "")
    assert s.value == 15
    assert segment_exists(s.name)  # the attaching process exited without removing anything


def test_tables_and_logs_attach_by_name() -> None:
    particles = Particle.table(5)
    log = Entry.log(3)
    log.append(worker=1, seq=2)
    again = Table.attach(particles.name, Particle)
    again[4].x = 9.0
    assert particles[4].x == 9.0 and len(again) == 5
    same_log = Log.attach(log.name, Entry)
    assert len(same_log) == 1 and same_log.capacity == 3
    same_log.append(worker=2, seq=3)
    assert log.column("seq").tolist() == [2, 3]


def test_attaching_as_another_kind_is_refused() -> None:
    particles, log, s = Particle.table(2), Particle.log(2), Counter()
    with pytest.raises(SegmentError, match=r"holds a table of Particle, not a struct"):
        Particle.attach(particles.name)
    with pytest.raises(SegmentError, match=r"holds a log of Particle, not a table"):
        Table.attach(log.name, Particle)
    with pytest.raises(SegmentError, match=r"holds a struct of Counter, not a log"):
        Log.attach(s.name, Counter)


class Renamed(SharedStruct):
    value: int = 0


def test_attaching_with_another_schema_says_which() -> None:
    s = Counter()
    with pytest.raises(SchemaMismatchError, match=rf"segment '{s.name}' holds schema 'Counter', not 'Renamed'"):
        Renamed.attach(s.name)


def test_attaching_a_changed_schema_says_what_changed(tmp_path: pathlib.Path) -> None:
    # The "old version" of Vec3 lives in another program: same name, a changed field, one more field.
    script = Script(
        str(tmp_path),
        """
        import shmstruct
        from shmstruct import SharedStruct
        class Vec3(SharedStruct):
            x: float = 0.0
            y: shmstruct.float32 = 0.0
            z: float = 0.0
            w: float = 0.0
        v = Vec3()
        print("name", v.name, flush=True)
        sys.stdin.readline()
        """,
    )
    name = script.expect("name").split()[1]
    with pytest.raises(SchemaMismatchError) as caught:
        Vec3.attach(name)
    message = str(caught.value)
    assert f"segment {name!r} holds a different version of Vec3" in message
    assert "field 'y' is float at offset 8 there, double at offset 8 here" in message
    assert "field 'z' is double at offset 16 there, double at offset 16 here" not in message
    assert "field 'w' exists only there" in message
    script.send("")
    assert script.finish()[0] == 0


def test_a_segment_that_is_not_ours_is_refused() -> None:
    name = unique_name("foreign")
    foreign = shared_memory.SharedMemory(name=f"shms_{name}", create=True, size=4096)
    try:
        foreign.buf[:8] = b"NOTOURS!"
        with pytest.raises(SegmentError, match=f"'{name}' is not a shmstruct block"):
            Counter.attach(name)
    finally:
        foreign.close()
        foreign.unlink()


def test_a_truncated_segment_is_refused() -> None:
    particles = Particle.table(1000, keep=True)
    name, data_offset = particles.name, particles._block.data_offset
    particles.close()
    del particles
    os.truncate(f"/dev/shm/shms_{name}", data_offset + 100)
    with pytest.raises(SegmentError, match=r"is damaged: it is [0-9,]+ bytes, but its header announces"):
        Table.attach(name, Particle)
    shmstruct.unlink(name)


def test_another_format_version_is_refused() -> None:
    keeper = Counter.options(keep=True)()
    name = keeper.name
    keeper.close()
    del keeper
    with open(f"/dev/shm/shms_{name}", "r+b") as segment, mmap.mmap(segment.fileno(), 0) as view:
        struct.pack_into("<I", view, 8, 99)
    with pytest.raises(SegmentError, match="written by shmstruct format 99"):
        Counter.attach(name)
    shmstruct.unlink(name)


def test_missing_names_and_bad_names() -> None:
    missing = unique_name("no-such-segment")
    with pytest.raises(SharedMemoryGoneError, match=f"no shared segment named '{missing}'"):
        Counter.attach(missing)
    for bad in ["a/b", "", "x" * (shmstruct.MAX_NAME_LENGTH + 1), "white space", "../etc"]:
        with pytest.raises(SegmentNameError):
            Counter.options(name=bad)()
        with pytest.raises(SegmentNameError):
            Counter.attach(bad)
    with pytest.raises(SegmentNameError, match="is a str"):
        Counter.attach(3)  # type: ignore[arg-type]


def test_given_names_are_used_and_taken_names_refused() -> None:
    name = unique_name("attach-test-given")
    s = Counter.options(name=name)(value=3)
    assert s.name == name and segment_exists(name)
    with pytest.raises(SegmentExistsError, match=f"'{name}' already exists"):
        Counter.options(name=name)()
    with pytest.raises(SegmentExistsError):
        Particle.table(3, name=name)
    assert s.value == 3


def test_segments_are_private_to_their_owner_unless_asked() -> None:
    s = Counter()
    assert stat.S_IMODE(os.stat(f"/dev/shm/shms_{s.name}").st_mode) == 0o600
    shared = Particle.log(4, name=unique_name("attach-test-mode"), mode=0o640)
    assert stat.S_IMODE(os.stat(f"/dev/shm/shms_{shared.name}").st_mode) == 0o640


def test_default_names_are_unguessable_and_distinct() -> None:
    names = {Counter().name for _ in range(5)}
    assert all(n.startswith(RUN_PREFIX) for n in names)  # the suite's SHMSTRUCT_NAME_PREFIX
    generated = {n.removeprefix(RUN_PREFIX) for n in names}
    assert len(generated) == 5 and all(len(n) >= 13 for n in generated)
    prefix = os.path.commonprefix(sorted(generated))  # noqa: RUF071 - names, not paths
    assert len(prefix) >= 12  # one random 48-bit prefix per process, then a counter


def test_the_environment_prefix_starts_generated_names_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHMSTRUCT_NAME_PREFIX", unique_name("job_7.a-"))  # still this run's, for the leak check
    assert Counter().name.startswith(f"{RUN_PREFIX}job_7.a-")
    assert Particle.table(2).name.startswith(f"{RUN_PREFIX}job_7.a-")
    given = unique_name("env-prefix-given")
    assert Counter.options(name=given)().name == given
    monkeypatch.setenv("SHMSTRUCT_NAME_PREFIX", "")
    with Counter() as plain:  # empty: no prefix (and gone at once: the leak check cannot see it)
        assert not plain.name.startswith(RUN_PREFIX) and len(plain.name) >= 13


@pytest.mark.parametrize("bad", ["a/b", "white space", "x" * 41, "café", "../x"])
def test_a_bad_environment_prefix_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("SHMSTRUCT_NAME_PREFIX", bad)
    message = rf"SHMSTRUCT_NAME_PREFIX={re.escape(repr(bad))} is not a valid name prefix: use at most 40 letters"
    with pytest.raises(SegmentNameError, match=message):
        Counter()
    with pytest.raises(SegmentNameError, match=message):
        Particle.log(3)
    assert Counter.options(name=unique_name("bad-prefix-given"))().value == 0  # given names do not use it


def test_keep_survives_the_creator_until_unlinked(tmp_path: pathlib.Path) -> None:
    name = unique_name("attach-test-kept")
    script = Script(
        str(tmp_path),
        f"""
        from helpers import Counter
        c = Counter.options(name={name!r}, keep=True)(value=42)
        print("made", flush=True)
        """,
    )
    script.expect("made")
    assert script.finish()[0] == 0
    assert segment_exists(name)
    kept = Counter.attach(name)
    assert kept.value == 42
    kept.close()
    assert segment_exists(name)  # keep: not removed by its last user either
    shmstruct.unlink(name)
    assert not segment_exists(name)
    with pytest.raises(SharedMemoryGoneError):
        shmstruct.unlink(name)


def test_attached_views_are_numpy_views_of_the_same_rows() -> None:
    particles = Particle.table(4)
    again = Table.attach(particles.name, Particle)
    assert np.shares_memory(again.records, particles.records)
