"""A schema whose fields take the names of every operation (importable by spawned children)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

import shmstruct
from shmstruct import SharedStruct, array, text


class Job(SharedStruct):
    """Fields named like the library's operations: the namespace belongs to the user."""

    name: str = text(32, "unnamed")
    log: str = text(64)
    table: int = 0
    update: float = 0.0
    snapshot: bool = False
    layout: int = 1
    dtype: int = 2
    options: int = 3
    attach: int = 4
    close: int = 5
    samples: NDArray[np.int32] = array(3)


def work_on_job(job: Job) -> None:
    """A child writes every field, through attributes and through shmstruct.update."""
    with job.lock:
        job.name = f"{job.name}-done"
        job.log = "child was here"
        job.table += 1
        job.samples[:] = [1, 2, 3]
    shmstruct.update(job, update=1.5, snapshot=True, layout=10, dtype=20, options=30, attach=40, close=50)
    again = shmstruct.attach(Job, shmstruct.segment_name(job))
    again.table += 1
    shmstruct.close(again)


def append_jobs(jobs: shmstruct.Log[Job], rows: shmstruct.Table[Job]) -> None:
    """A child appends to a log of Jobs and writes a table row."""
    jobs.append(name="from-child", close=7)
    rows[1].name = "row-from-child"
    rows[1].close = 9
