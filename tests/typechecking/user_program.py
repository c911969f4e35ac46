"""A user's program, type-checked by .ci/run from a folder outside the repository after the README's
install command, with mypy --strict and with pyright: both must find the installed package."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np
from numpy.typing import NDArray

import shmstruct
from shmstruct import Atomic, SharedStruct, array, atomic, text


class State(SharedStruct):
    steps: int = 0
    label: str = text(16)
    grid: NDArray[np.float64] = array((8, 8))
    hits: Atomic[int] = atomic()


def work(s: State) -> None:
    with s.lock:
        s.steps += 1
    s.hits.add(1)
    s.grid[0, 0] += 1.0


def main() -> None:
    with State(label="demo") as s:
        workers = [mp.Process(target=work, args=(s,)) for _ in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        steps: int = s.steps
        print(steps, s.hits.load(), shmstruct.snapshot(s).label)


if __name__ == "__main__":
    main()
