"""Tables: row proxies, zero-copy records and column views, row-range views, children, snapshots."""

from __future__ import annotations

import pickle
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.context import BaseContext

import numpy as np
import pytest
from array_helpers import Entry, EveryType, Particle, double_rows_through_proxies, fill_column
from helpers import column_sum_of_remembered, finish, pool_of, remember, run_child
from state_helpers import State

from shmstruct import FieldValueError


def test_rows_start_with_defaults_and_views_share_memory() -> None:
    particles = Particle.table(1000)
    assert len(particles) == 1000
    assert particles.records.dtype == Particle.dtype
    assert particles.column("mass").tolist() == [1.0] * 1000 and particles.column("alive").all()
    p = particles[10]
    assert isinstance(p, Particle)
    p.x = 3.5
    assert particles.records["x"][10] == 3.5 and particles.column("x")[10] == 3.5
    particles.column("y")[-1] = 2.0
    assert particles[-1].y == 2.0
    assert p.lock is particles.lock


def test_tables_of_array_text_and_nested_fields_start_with_defaults() -> None:
    table = EveryType.table(3)
    row = table[2]
    assert (row.b, row.ul, row.f, row.c, row.u, row.words) == (-3, 2**40, 1.5, b"a", "x", "hello")
    assert (row.where.x, row.where.y, row.where.z) == (1.0, 2.0, 3.0)
    assert table.column("samples").shape == (3, 5) and table.column("matrix").shape == (3, 2, 3)
    assert table.column("where")["z"].tolist() == [3.0, 3.0, 3.0]
    row.samples[:] = [1, 2, 3, 4, 5]
    row.words = "héllo"
    row.where.y = 9.0
    assert table.column("samples")[2].tolist() == [1, 2, 3, 4, 5] and table.column("samples")[1].sum() == 0
    assert table[2].words == "héllo" and table[1].words == "hello"
    assert table.column("where")["y"].tolist() == [2.0, 2.0, 9.0]
    assert row.where.lock is table.lock


def test_row_writes_are_checked_and_rejections_change_nothing() -> None:
    table = State.table(3)
    with pytest.raises(FieldValueError, match="State.level"):
        table[0].level = 300
    with pytest.raises(FieldValueError, match="State.budget"):
        table[1].update(steps=5, budget=101)
    with pytest.raises(FieldValueError, match="State.label"):
        table[2].label = "x" * 17
    with pytest.raises(FieldValueError, match="State.grid"):
        table[2].grid = np.zeros((3, 4))
    assert table.column("level").tolist() == [0, 0, 0] and table.column("steps").tolist() == [0, 0, 0]
    assert table.column("budget").tolist() == [50, 50, 50] and table[2].label == ""


def test_bounds_and_unknown_columns() -> None:
    particles = Particle.table(5)
    assert particles[-5].x == 0.0
    with pytest.raises(IndexError, match="row 5 is out of range"):
        particles[5]
    with pytest.raises(IndexError):
        particles[-6]
    with pytest.raises(KeyError, match="fields: x, y, mass, alive"):
        particles.column("z")
    with pytest.raises(ValueError, match="contiguous"):
        particles[::2]


@pytest.mark.parametrize("rows", [-1, 2.5, True, "3"])
def test_bad_row_counts_are_refused(rows: object) -> None:
    with pytest.raises(ValueError, match=r"Particle.table\(\) needs a whole number of rows"):
        Particle.table(rows)  # type: ignore[arg-type]


def test_empty_table() -> None:
    empty = Particle.table(0)
    assert len(empty) == 0 and empty.records.shape == (0,) and list(empty) == []


def test_slices_are_views() -> None:
    particles = Particle.table(10)
    part = particles[2:5]
    assert len(part) == 3
    part[0].x = 7.0
    part.column("y")[:] = 1.0
    assert particles[2].x == 7.0 and particles.column("y").tolist() == [0, 0, 1, 1, 1, 0, 0, 0, 0, 0]
    assert [row.x for row in part] == [7.0, 0.0, 0.0]
    assert len(particles[8:100]) == 2 and len(particles[5:2]) == 0
    assert np.shares_memory(part.records, particles.records)


def test_each_worker_fills_its_slice(ctx: BaseContext) -> None:
    particles = Particle.table(100)
    workers = [
        ctx.Process(target=fill_column, args=(particles[i * 50 : (i + 1) * 50], "x", float(i + 1))) for i in range(2)
    ]
    for w in workers:
        w.start()
    for w in workers:
        finish(w)
    assert particles.column("x").tolist() == [1.0] * 50 + [2.0] * 50
    assert particles.column("y").sum() == 0.0


def test_writes_cross_between_records_and_proxies_in_other_processes(ctx: BaseContext) -> None:
    particles = Particle.table(4)
    particles.column("x")[:] = [1.0, 2.0, 3.0, 4.0]  # parent writes through records
    particles[3].y = 7.5  # parent writes through a proxy
    run_child(ctx, double_rows_through_proxies, particles)  # child reads/writes both ways
    assert [p.x for p in particles] == [2.0, 4.0, 6.0, 8.0]
    assert particles.column("mass").tolist() == [0.0, 0.0, 0.0, 7.5]


def test_tables_reach_pool_and_executor_initializers(ctx: BaseContext) -> None:
    particles = Particle.table(10)
    particles.column("x")[:] = 2.0
    with pool_of(ctx, 2, initializer=remember, initargs=(particles[5:],)) as pool:
        assert pool.map(column_sum_of_remembered, ["x", "mass"]) == [10.0, 5.0]
    with ProcessPoolExecutor(2, mp_context=ctx, initializer=remember, initargs=(particles,)) as ex:
        assert list(ex.map(column_sum_of_remembered, ["x", "alive"])) == [20.0, 10.0]


def test_pickle_is_by_reference_and_snapshot_is_a_copy() -> None:
    particles = Particle.table(4)
    again = pickle.loads(pickle.dumps(particles[1:3]))
    again[0].x = 5.0
    assert particles[1].x == 5.0 and len(again) == 2
    snap = particles.snapshot()
    particles[1].x = 6.0
    assert snap["x"][1] == 5.0 and particles[1].x == 6.0
    assert snap.dtype == Particle.dtype and not np.shares_memory(snap, particles.records)


def test_rows_as_pydantic_models() -> None:
    table = Entry.table(2)
    table[1].update(worker=3, tag="three")
    first, second = table.models()
    assert first.worker == -1 and first.tag == "unset" and first.where.x == -1.0
    assert second.model_dump(mode="json")["tag"] == "three"
    assert second.echo.tolist() == [0, 0, 0, 0]


def test_memory_is_rows_times_itemsize_plus_a_header() -> None:
    small, large = Particle.table(10), Particle.table(1000)
    assert large.records.nbytes == 1000 * Particle.dtype.itemsize
    header = small._block.size - 10 * Particle.dtype.itemsize  # no per-row overhead
    assert large._block.size - 1000 * Particle.dtype.itemsize == header == large._block.data_offset < 4096


def test_numpy_integer_indexes_work_and_other_indexes_are_refused() -> None:
    particles = Particle.table(5)
    particles[np.int64(3)].x = 1.5
    assert particles.column("x")[3] == 1.5 and particles[np.int32(-2)].x == 1.5
    with pytest.raises(TypeError, match="indexes are ints or slices, not str"):
        particles["x"]  # type: ignore[call-overload]
