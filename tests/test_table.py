"""Tables (issue 3, in progress): row proxies, records and column views, slices, children."""

from __future__ import annotations

import pickle
from multiprocessing.context import BaseContext

import numpy as np
import pytest

import shmstruct
from helpers import finish
from shmstruct import FieldValueError, SharedStruct


class Particle(SharedStruct):
    x: float = 0.0
    y: float = 0.0
    mass: shmstruct.float32 = 1.0
    alive: bool = True


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


def test_row_writes_are_checked() -> None:
    particles = Particle.table(3)
    with pytest.raises(FieldValueError, match="Particle.mass"):
        particles[0].mass = 1e39
    assert particles[0].mass == 1.0


def test_bounds_and_unknown_columns() -> None:
    particles = Particle.table(5)
    with pytest.raises(IndexError):
        particles[5]
    with pytest.raises(IndexError):
        particles[-6]
    with pytest.raises(KeyError, match="fields: x, y, mass, alive"):
        particles.column("z")


def test_slices_are_views() -> None:
    particles = Particle.table(10)
    part = particles[2:5]
    assert len(part) == 3
    part[0].x = 7.0
    part.column("y")[:] = 1.0
    assert particles[2].x == 7.0 and particles.column("y").tolist() == [0, 0, 1, 1, 1, 0, 0, 0, 0, 0]
    assert [row.x for row in part] == [7.0, 0.0, 0.0]


def _fill(part: object, value: float) -> None:
    part.column("x")[:] = value  # type: ignore[attr-defined]


def test_each_worker_fills_its_slice(ctx: BaseContext) -> None:
    particles = Particle.table(100)
    workers = [ctx.Process(target=_fill, args=(particles[i * 50 : (i + 1) * 50], float(i + 1))) for i in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        finish(w)
    assert particles.column("x").tolist() == [1.0] * 50 + [2.0] * 50


def test_pickle_and_snapshot() -> None:
    particles = Particle.table(4)
    again = pickle.loads(pickle.dumps(particles))
    again[1].x = 5.0
    snap = particles.snapshot()
    particles[1].x = 6.0
    assert snap["x"][1] == 5.0 and particles[1].x == 6.0
    assert np.shares_memory(again.records, particles.records) or again.records["x"][1] == 6.0
