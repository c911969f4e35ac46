"""Producer/consumer pipeline over a shared log.

One producer appends work items to a log; three consumers claim the next item number from a
shared cursor (an atomic field: `add(1)` hands each number to exactly one consumer, with no lock),
wait until that item has been appended, compute, and write the result into the matching row of a
shared table. The wait sleeps on the log's lock (`wait_for`): every append notifies it, so a
consumer that is ahead of the producer uses no CPU and no polling. A consumer sees only items whose
append has finished: the log publishes a row only after writing it.

Run: python examples/pipeline.py
"""

from __future__ import annotations

import multiprocessing as mp
import time

import numpy as np

import shmstruct
from shmstruct import Atomic, Log, SharedStruct, Table, atomic

ITEMS = 20_000
CONSUMERS = 3


class Item(SharedStruct):
    seq: int
    x: float
    y: float


class Result(SharedStruct):
    seq: int = -1
    distance: float = 0.0
    consumer: int = -1


class Cursor(SharedStruct):
    next: Atomic[int] = atomic()  # the next item to claim


def produce(items: Log[Item]) -> None:
    rng = np.random.default_rng(1)
    for seq, (x, y) in enumerate(rng.random((ITEMS, 2)).tolist()):
        items.append(seq=seq, x=x, y=y)  # checked, under the log's lock; wakes waiting consumers


def consume(index: int, items: Log[Item], results: Table[Result], cursor: Cursor) -> None:
    while True:
        claimed = cursor.next.add(1)  # returns the previous value: this consumer's item
        if claimed >= ITEMS:
            return
        with items.lock:  # sleep until the producer has appended it
            items.lock.wait_for(lambda claimed=claimed: items.appended > claimed)
        item = items[claimed]
        shmstruct.update(results[claimed], seq=item.seq, distance=float(np.hypot(item.x, item.y)), consumer=index)


def main() -> None:
    ctx = mp.get_context("spawn")
    items, results, cursor = shmstruct.log(Item, capacity=ITEMS), shmstruct.table(Result, ITEMS), Cursor()
    started = time.perf_counter()
    processes = [ctx.Process(target=produce, args=(items,))]
    processes += [ctx.Process(target=consume, args=(i, items, results, cursor)) for i in range(CONSUMERS)]
    for p in processes:
        p.start()
    for p in processes:
        p.join()
    elapsed = time.perf_counter() - started

    done = results.snapshot()
    expected = np.hypot(items.column("x"), items.column("y"))
    print(f"{len(items):,} items produced, {int((done['seq'] >= 0).sum()):,} consumed in {elapsed:.2f} s")
    print(f"per consumer: {np.bincount(done['consumer'], minlength=CONSUMERS).tolist()}")
    print(
        "every result matches its item:",
        bool(np.allclose(done["distance"], expected) and (done["seq"] == np.arange(ITEMS)).all()),
    )
    assert (done["seq"] == np.arange(ITEMS)).all() and np.allclose(done["distance"], expected)


if __name__ == "__main__":
    main()
