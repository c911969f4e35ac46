"""Workers on several hosts share a job table, a progress struct and an event log through Redis.

Each worker process connects on its own, as it would from its own machine (run it with
SHMSTRUCT_REDIS_URL=redis://host:6379/0 on each). A worker claims the next free job under the
table's lock (a lease: a worker paused past it could not overwrite the next holder's claim), counts
the primes below the job's bound, records the result in the job's row, adds to the shared count
and logs an event. The coordinator sleeps on the server until events arrive, and checks the
results at the end.

Needs Redis (see docs/redis.md): ``pip install 'shmstruct[redis]'``, and a server.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import sys

import shmstruct
import shmstruct.redis
from shmstruct import Atomic, SharedStruct, atomic, text

JOBS = 24
WORKERS = 3
KEY = f"examples/redis-jobs/{os.getpid()}"  # one run's keys; another run beside it has others


class Job(SharedStruct):
    bound: int = 0  # count the primes below this
    state: str = text(8)  # "todo", "taken" or "done"
    owner: int = -1
    primes: int = -1


class Progress(SharedStruct):
    done: Atomic[int] = atomic()
    primes: Atomic[int] = atomic()


class Event(SharedStruct):
    worker: int = 0
    job: int = 0
    primes: int = 0


def count_primes(bound: int) -> int:
    """The number of primes below ``bound`` (a sieve)."""
    if bound < 3:
        return 0
    sieve = bytearray([1]) * bound
    sieve[0] = sieve[1] = 0
    for n in range(2, math.isqrt(bound - 1) + 1):
        if sieve[n]:
            sieve[n * n :: n] = bytes(len(range(n * n, bound, n)))
    return sum(sieve)


def claim(jobs: shmstruct.redis.RemoteTable[Job], worker: int) -> int | None:
    """Take the first job still to do, or None when none is left."""
    with jobs.lock:
        states = jobs.column("state")  # one round trip for the whole column
        free = [index for index, state in enumerate(states) if state == b"todo"]
        if not free:
            return None
        shmstruct.update(jobs[free[0]], state="taken", owner=worker)
        return free[0]


def worker(number: int, key: str) -> None:
    store = shmstruct.redis.connect()  # its own connection, as on its own host
    jobs = store.attach_table(Job, f"{key}/jobs")
    progress = store.attach(Progress, f"{key}/progress")
    events = store.attach_log(Event, f"{key}/events")
    while (index := claim(jobs, number)) is not None:
        primes = count_primes(jobs[index].bound)
        shmstruct.update(jobs[index], state="done", primes=primes)
        progress.primes.add(primes)
        progress.done.add(1)
        events.append(worker=number, job=index, primes=primes)
    store.close()


def main() -> None:
    store = shmstruct.redis.connect()
    bounds = [20_000 + 10_000 * n for n in range(JOBS)]
    jobs = store.create_table(Job, f"{KEY}/jobs", rows=JOBS)
    jobs.write_column("bound", bounds)
    jobs.write_column("state", ["todo"] * JOBS)
    progress = store.create(Progress, f"{KEY}/progress")
    events = store.create_log(Event, f"{KEY}/events", capacity=JOBS)
    try:
        workers = [mp.Process(target=worker, args=(n, KEY)) for n in range(WORKERS)]
        for process in workers:
            process.start()
        seen = 0
        while seen < JOBS:
            events.wait(seen)  # sleeps on the server until another job is logged
            seen = events.appended
        for process in workers:
            process.join()
        if any(process.exitcode for process in workers):
            sys.exit("a worker failed")
        rows = jobs.snapshot()
        expected = [count_primes(bound) for bound in bounds]
        assert rows["primes"].tolist() == expected, "a job's result is wrong"
        assert progress.primes.load() == sum(expected) and progress.done.load() == JOBS
        per_worker = [int((events.snapshot()["worker"] == n).sum()) for n in range(WORKERS)]
        print(f"done: {JOBS} jobs by {WORKERS} workers through Redis, {sum(per_worker)} events logged")
        print(f"primes counted: {progress.primes.load():,}, every job's result checked")
    finally:
        for name in ("jobs", "progress", "events"):
            store.delete(f"{KEY}/{name}")
        store.close()


if __name__ == "__main__":
    main()
