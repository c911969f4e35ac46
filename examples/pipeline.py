"""Producer/consumer pipeline over a shared log.

One producer appends work items to a log; three consumers take the next unclaimed item (a shared
cursor, claimed under its lock), compute, and write the result into the matching row of a shared
table. A semaphore counts the items ready to take, so consumers block instead of polling. A
consumer sees only items whose append has finished: the log publishes a row only after writing it.

Run: python examples/pipeline.py
"""

from __future__ import annotations

import multiprocessing as mp
import time

import numpy as np

from shmstruct import Log, SharedStruct, Table

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
    next: int = 0  # the next item to claim


def produce(items: Log[Item], ready: mp.synchronize.Semaphore) -> None:
    rng = np.random.default_rng(1)
    for seq, (x, y) in enumerate(rng.random((ITEMS, 2)).tolist()):
        items.append(seq=seq, x=x, y=y)  # checked, under the log's lock
        ready.release()
    for _ in range(CONSUMERS):  # one "no more items" permit per consumer
        ready.release()


def consume(index: int, items: Log[Item], results: Table[Result], cursor: Cursor, ready: mp.synchronize.Semaphore) -> None:
    while True:
        ready.acquire()
        with cursor.lock:
            claimed = cursor.next
            cursor.next += 1
        if claimed >= ITEMS:
            return
        item = items[claimed]  # appended before its permit was released
        results[claimed].update(seq=item.seq, distance=float(np.hypot(item.x, item.y)), consumer=index)


def main() -> None:
    ctx = mp.get_context("spawn")
    items, results, cursor = Item.log(capacity=ITEMS), Result.table(ITEMS), Cursor()
    ready = ctx.Semaphore(0)
    started = time.perf_counter()
    processes = [ctx.Process(target=produce, args=(items, ready))]
    processes += [ctx.Process(target=consume, args=(i, items, results, cursor, ready)) for i in range(CONSUMERS)]
    for p in processes:
        p.start()
    for p in processes:
        p.join()
    elapsed = time.perf_counter() - started

    done = results.snapshot()
    expected = np.hypot(items.column("x"), items.column("y"))
    print(f"{len(items):,} items produced, {int((done['seq'] >= 0).sum()):,} consumed in {elapsed:.2f} s")
    print(f"per consumer: {np.bincount(done['consumer'], minlength=CONSUMERS).tolist()}")
    print(f"every result matches its item: {bool(np.allclose(done['distance'], expected) and (done['seq'] == np.arange(ITEMS)).all())}")
    assert (done["seq"] == np.arange(ITEMS)).all() and np.allclose(done["distance"], expected)


if __name__ == "__main__":
    main()
