"""Parallel Monte Carlo: four worker processes fill one shared struct while the parent analyses it.

Each worker throws random points at the unit square, counts the ones inside the quarter circle
(its own counter) and adds their distances to a shared histogram. The parent watches the live
numbers with numpy while they work and prints an estimate of pi at the end.

Run: python examples/monte_carlo.py
"""

from __future__ import annotations

import multiprocessing as mp
from multiprocessing.connection import wait

import numpy as np
from numpy.typing import NDArray

import shmstruct
from shmstruct import SharedStruct, array, text

WORKERS = 4
BATCHES = 200
BATCH = 20_000
BINS = 12


class Survey(SharedStruct):
    done: int = 0  # points thrown, all workers together
    phase: str = text(16, "starting")
    hits: NDArray[np.int64] = array(WORKERS)  # points inside the circle, one counter per worker
    histogram: NDArray[np.int64] = array(BINS)  # distances from the origin, all workers together


def worker(survey: Survey, index: int) -> None:
    rng = np.random.default_rng(index)
    for _ in range(BATCHES):
        points = rng.random((BATCH, 2))
        distance = np.hypot(points[:, 0], points[:, 1])
        counts, _ = np.histogram(distance, bins=BINS, range=(0.0, np.sqrt(2.0)))
        inside = int(np.count_nonzero(distance <= 1.0))
        with survey.lock:  # the three updates below become one step for every reader
            survey.hits[index] += inside
            survey.histogram += counts
            survey.done += BATCH


def main() -> None:
    ctx = mp.get_context("spawn")  # works the same with "fork" and "forkserver"
    survey = Survey()
    survey.phase = "running"
    workers = [ctx.Process(target=worker, args=(survey, i)) for i in range(WORKERS)]
    for w in workers:
        w.start()
    pending = [w.sentinel for w in workers]
    while pending:
        finished = wait(pending, timeout=0.5)
        pending = [s for s in pending if s not in finished]
        snap = shmstruct.snapshot(survey)  # a consistent copy: done, hits and histogram agree
        if snap.done:
            print(
                f"  {snap.done:>10,} points  pi ~ {4 * snap.hits.sum() / snap.done:.5f}",
                f" per worker {snap.hits.tolist()}",
            )
    for w in workers:
        w.join()
    survey.phase = "finished"

    total = survey.done
    estimate = 4 * int(survey.hits.sum()) / total
    histogram = survey.histogram
    peak = int(np.argmax(histogram))
    width = np.sqrt(2.0) / BINS
    print(f"{survey.phase}: {total:,} points from {WORKERS} processes")
    print(f"pi ~ {estimate:.4f} (error {abs(estimate - np.pi):.4f})")
    print(
        f"most common distance: {peak * width:.2f}..{(peak + 1) * width:.2f} ({histogram[peak] / total:.1%} of points)"
    )
    assert total == WORKERS * BATCHES * BATCH and histogram.sum() == total


if __name__ == "__main__":
    main()
