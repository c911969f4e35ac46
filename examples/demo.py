"""shmstruct demo: four worker processes share a job table, a status struct and an event log,
while the parent watches them with numpy.

- ``Status``: one struct with text, counters and a per-worker array, updated under its lock.
- ``Job`` table: one row per job; each worker writes its results into its own rows.
- ``Event`` log: every worker appends one row per finished job; appends are checked and atomic.

Run: python examples/demo.py
"""

from __future__ import annotations

import multiprocessing as mp
import time
from multiprocessing.connection import wait

import numpy as np
from numpy.typing import NDArray

import shmstruct
from shmstruct import Log, SharedStruct, Table, array, text

WORKERS = 4
JOBS = 400


class Status(SharedStruct):
    phase: str = text(16, "starting")
    done: int = 0
    busiest: shmstruct.int8 = -1
    per_worker: NDArray[np.int64] = array(WORKERS)  # jobs finished by each worker


class Job(SharedStruct):
    size: int = 0
    result: float = 0.0
    worker: shmstruct.int8 = -1


class Event(SharedStruct):
    worker: int
    job: int
    millis: float


def work(index: int, jobs: Table[Job], events: Log[Event], status: Status) -> None:
    for i in range(index, len(jobs), WORKERS):
        started = time.perf_counter()
        job = jobs[i]  # a checked proxy of row i
        shmstruct.update(job, result=float(np.sqrt(np.arange(job.size, dtype=np.float64)).sum()), worker=index)
        events.append(worker=index, job=i, millis=(time.perf_counter() - started) * 1e3)
        with status.lock:  # three fields change together
            status.done += 1
            status.per_worker[index] += 1
            status.busiest = int(np.argmax(status.per_worker))


def main() -> None:
    ctx = mp.get_context("spawn")  # the same with "fork" and "forkserver"
    status = Status()
    jobs = shmstruct.table(Job, JOBS)
    jobs.column("size")[:] = np.random.default_rng(0).integers(10_000, 200_000, JOBS)  # numpy view, no copy
    events = shmstruct.log(Event, capacity=JOBS)
    workers = [ctx.Process(target=work, args=(i, jobs, events, status)) for i in range(WORKERS)]
    status.phase = "running"
    for w in workers:
        w.start()
    pending = [w.sentinel for w in workers]
    while pending:
        pending = [s for s in pending if s not in wait(pending, timeout=0.1)]
        snap = shmstruct.snapshot(status)  # one consistent moment
        print(f"  {snap.phase:8} {snap.done:4}/{JOBS} jobs, per worker {snap.per_worker.tolist()}")
    status.phase = "finished"

    finished = jobs.records  # a structured numpy view of every row
    log = events.snapshot()
    print(f"{status.phase}: {status.done} jobs by {WORKERS} processes, {len(events)} events logged")
    print(f"sum of results: {finished['result'].sum():,.1f}; every job done: {bool((finished['worker'] >= 0).all())}")
    print(
        "mean job time per worker (ms):",
        [round(float(log["millis"][log["worker"] == w].mean()), 3) for w in range(WORKERS)],
    )
    assert status.done == JOBS == len(events) and sorted(log["job"].tolist()) == list(range(JOBS))


if __name__ == "__main__":
    main()
