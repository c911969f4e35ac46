"""Particles: worker processes simulate their share of one shared table; the parent computes
statistics with numpy while they run, and reads their progress reports from a shared log.

Each worker owns a contiguous slice of the table (``particles[a:b]``, a view that writes into the
parent's memory). Per step it computes the new positions privately, then writes them under the
table's lock, so the parent's ``snapshot()`` always sees whole steps. After each step it appends
a progress row to a shared log.

Run: python examples/particles.py
"""

from __future__ import annotations

import multiprocessing as mp
from multiprocessing.connection import wait

import numpy as np

import shmstruct
from shmstruct import Log, SharedStruct, Table

WORKERS = 4
PARTICLES = 400_000
STEPS = 40
DT = 0.01


class Particle(SharedStruct):
    x: float = 0.0
    y: float = 0.0
    vx: float = 0.0
    vy: float = 0.0
    mass: shmstruct.float32 = 1.0
    alive: bool = True


class Progress(SharedStruct):
    worker: int
    step: int
    alive: int


def simulate(part: Table[Particle], progress: Log[Progress], worker: int) -> None:
    """Move this worker's particles for STEPS steps; those that leave the unit disc die."""
    rng = np.random.default_rng(worker)
    n = len(part)
    with part.lock:
        rows = part.records  # a view of this worker's rows of the shared table
        rows["x"], rows["y"] = rng.uniform(-0.5, 0.5, n), rng.uniform(-0.5, 0.5, n)
        rows["vx"], rows["vy"] = rng.normal(0.0, 1.0, n), rng.normal(0.0, 1.0, n)
        rows["mass"] = rng.uniform(0.5, 2.0, n)
    for step in range(1, STEPS + 1):
        state = part.snapshot()  # a private copy: compute without holding the lock
        x = state["x"] + DT * state["vx"]
        y = state["y"] + DT * state["vy"]
        alive = state["alive"] & (np.hypot(x, y) < 1.0)
        with part.lock:  # write the whole step at once
            rows["x"], rows["y"], rows["alive"] = x, y, alive
        progress.append(worker=worker, step=step, alive=int(alive.sum()))


def main() -> None:
    ctx = mp.get_context("spawn")  # the same with "fork" and "forkserver"
    particles = shmstruct.table(Particle, PARTICLES)
    progress = shmstruct.log(Progress, capacity=WORKERS * STEPS)
    share = PARTICLES // WORKERS
    workers = [
        ctx.Process(target=simulate, args=(particles[i * share : (i + 1) * share], progress, i)) for i in range(WORKERS)
    ]
    for w in workers:
        w.start()

    pending = [w.sentinel for w in workers]
    while pending:
        finished = wait(pending, timeout=0.2)
        pending = [s for s in pending if s not in finished]
        state = particles.snapshot()  # every worker's rows from one moment, whole steps only
        alive = state["alive"]
        energy = 0.5 * float(np.sum(state["mass"] * (state["vx"] ** 2 + state["vy"] ** 2), where=alive))
        steps = progress.column("step")  # finished progress rows only
        print(
            f"  {len(progress):>3} progress rows, slowest worker at step {_slowest(progress)}: "
            f"{alive.mean():6.1%} alive, kinetic energy {energy:12,.0f}, "
            f"mean radius {np.hypot(state['x'], state['y'])[alive].mean():.3f}"
            if len(steps)
            else "  workers starting"
        )
    for w in workers:
        w.join()

    final = particles.snapshot()
    reports = progress.snapshot()
    last = reports[reports["step"] == STEPS]
    print(f"done: {PARTICLES:,} particles, {WORKERS} workers x {STEPS} steps, {len(progress)} progress rows")
    print(
        f"alive at the end: {int(final['alive'].sum()):,} ({final['alive'].mean():.1%});",
        f"per worker {sorted(last['alive'].tolist())}",
    )
    assert len(progress) == WORKERS * STEPS and int(last["alive"].sum()) == int(final["alive"].sum())


def _slowest(progress: Log[Progress]) -> int:
    steps = progress.records[["worker", "step"]]
    latest = {int(w): int(s) for w, s in zip(steps["worker"], steps["step"], strict=True)}
    return min(latest.get(i, 0) for i in range(WORKERS))


if __name__ == "__main__":
    main()
