"""Logs: checked appends under the lock, full and ring logs, many writers, readers see finished rows."""

from __future__ import annotations

import pickle
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.context import BaseContext

import numpy as np
import pytest
from array_helpers import Entry, Particle, append_entries, broken_entries, entry_values, watch_entries
from helpers import JOIN_TIMEOUT, append_from_remembered, finish, pool_of, remember
from state_helpers import State

from shmstruct import FieldTypeError, FieldValueError, LogFullError, SharedStruct


def test_append_returns_the_index_and_views_cover_appended_rows_only() -> None:
    log = Particle.log(capacity=10)
    assert len(log) == 0 and log.records.shape == (0,) and log.capacity == 10 and not log.ring
    assert log.append(x=1.0, y=2.0) == 0
    assert log.append(mass=3.0) == 1
    assert len(log) == 2 and log.appended == 2
    assert log.column("x").tolist() == [1.0, 0.0] and log.column("mass").tolist() == [1.0, 3.0]
    assert log[1].mass == 3.0 and log[-1].mass == 3.0 and log[0].alive
    assert [row.y for row in log] == [2.0, 0.0]
    with pytest.raises(IndexError):
        log[2]
    log[0].x = 4.0  # rows stay writable, checked
    assert log.records["x"][0] == 4.0


def test_rows_start_from_defaults_for_every_kind_of_field() -> None:
    log = Entry.log(4)
    log.append(seq=1)
    row = log[0]
    assert (row.worker, row.seq, row.tag, row.echo.tolist()) == (-1, 1, "unset", [0, 0, 0, 0])
    assert (row.where.x, row.where.z) == (-1.0, -1.0)
    log.append(**entry_values(2, 3))
    assert broken_entries(log.records[1:]) == [] and log[1].tag == "w2-s3"


def test_rejected_appends_add_no_row() -> None:
    log = State.log(5)
    log.append(steps=1)
    for bad, error in [
        ({"level": 200}, FieldValueError),
        ({"steps": "many"}, FieldTypeError),
        ({"budget": -1}, FieldValueError),
        ({"label": "x" * 17}, FieldValueError),
        ({"grid": np.ones((2, 2))}, FieldValueError),
        ({"origin": {"w": 1.0}}, FieldTypeError),
        ({"nope": 1}, FieldTypeError),
    ]:
        with pytest.raises(error, match="State"):
            log.append(**{"steps": 2, **bad})
        assert len(log) == 1 and log.appended == 1
    assert log.column("steps").tolist() == [1]


class Required(SharedStruct):
    key: int
    value: float = 0.0


def test_required_fields_must_be_given() -> None:
    log = Required.log(2)
    with pytest.raises(FieldTypeError, match="missing required field.*key"):
        log.append(value=1.0)  # type: ignore[call-arg]
    assert len(log) == 0
    assert log.append(key=1) == 0


def test_positional_values_are_refused() -> None:
    log = Particle.log(2)
    with pytest.raises(TypeError, match="by keyword"):
        log.append(1.0)  # type: ignore[call-arg]
    assert len(log) == 0


def test_a_full_log_refuses_and_keeps_its_rows() -> None:
    log = Particle.log(2)
    log.append(x=1.0)
    log.append(x=2.0)
    with pytest.raises(LogFullError, match="Particle log is full.*capacity of 2 rows.*ring=True"):
        log.append(x=3.0)
    assert log.column("x").tolist() == [1.0, 2.0] and log.appended == 2


def test_a_ring_overwrites_the_oldest_rows() -> None:
    ring = Particle.log(3, ring=True)
    slots = [ring.append(x=float(i)) for i in range(5)]
    assert slots == [0, 1, 2, 0, 1]
    assert ring.ring and len(ring) == 3 and ring.appended == 5
    assert ring.records["x"].tolist() == [3.0, 4.0, 2.0]  # slot order
    assert ring.snapshot()["x"].tolist() == [2.0, 3.0, 4.0]  # oldest first
    assert [m.x for m in ring.models()] == [2.0, 3.0, 4.0]


@pytest.mark.parametrize("capacity", [0, -3, 1.5, True])
def test_bad_capacities_are_refused(capacity: object) -> None:
    with pytest.raises(ValueError, match=r"Particle.log\(\) needs a capacity of at least 1"):
        Particle.log(capacity)  # type: ignore[arg-type]


def test_pickle_is_by_reference_and_keeps_ring_and_capacity() -> None:
    ring = Particle.log(4, ring=True)
    ring.append(x=1.0)
    again = pickle.loads(pickle.dumps(ring))
    assert again.ring and again.capacity == 4 and len(again) == 1
    again.append(x=2.0)
    assert ring.column("x").tolist() == [1.0, 2.0]


def test_memory_is_capacity_times_itemsize_plus_a_header() -> None:
    small, large = Particle.log(10), Particle.log(1000)
    header = small._block.size - 10 * Particle.dtype.itemsize
    assert large._block.size - 1000 * Particle.dtype.itemsize == header == large._block.data_offset < 4096


def test_four_writers_lose_and_duplicate_nothing_while_a_reader_sees_only_finished_rows(ctx: BaseContext) -> None:
    per_worker, workers = 5_000, 4
    log = Entry.log(per_worker * workers)
    go = ctx.Event()
    results = ctx.Queue()
    reader = ctx.Process(target=watch_entries, args=(log, per_worker * workers, results))
    writers = [ctx.Process(target=append_entries, args=(log, w, per_worker, go)) for w in range(workers)]
    reader.start()
    for w in writers:
        w.start()
    go.set()
    for w in writers:
        finish(w)
    reads, seen, broken = results.get(timeout=JOIN_TIMEOUT)
    finish(reader)
    assert broken == [] and seen == per_worker * workers and reads >= 1
    rows = log.snapshot()
    assert len(rows) == per_worker * workers and broken_entries(rows) == []
    pairs = set(zip(rows["worker"].tolist(), rows["seq"].tolist(), strict=True))
    assert pairs == {(w, s) for w in range(workers) for s in range(per_worker)}
    for w in range(workers):  # each writer's rows are in the order it appended them
        assert rows["seq"][rows["worker"] == w].tolist() == list(range(per_worker))


def test_logs_reach_pool_and_executor_initializers(ctx: BaseContext) -> None:
    log = Particle.log(8)
    with pool_of(ctx, 2, initializer=remember, initargs=(log,)) as pool:
        indexes = pool.map(append_from_remembered, [1.0, 2.0, 3.0])
    with ProcessPoolExecutor(2, mp_context=ctx, initializer=remember, initargs=(log,)) as ex:
        indexes += list(ex.map(append_from_remembered, [4.0, 5.0]))
    assert sorted(indexes) == [0, 1, 2, 3, 4]
    assert sorted(log.column("x").tolist()) == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert [log[i].x for i in indexes] == [1.0, 2.0, 3.0, 4.0, 5.0]
