"""shmstruct demo: four worker processes share a job table, a status struct and an event log,
while the parent watches them with numpy.

The workers count the primes below a growing bound, one segment of a million numbers per job
(a numpy sieve). They take jobs until a deadline rather than a fixed number of them, so the demo
lasts about ``SECONDS`` on any machine (and works for at least ``MIN_WORK``, however long the
workers take to start); a faster one gets further.

- ``Status``: one struct; workers claim jobs with a lock-free atomic counter, report under the lock.
- ``Job`` table: one row per segment; each worker writes the count of its segments.
- ``Event`` log: every worker appends one row per finished job; appends are checked and atomic.

The parent shows the live numbers in place on a terminal (a few plain lines otherwise), then
checks the result against known prime counts and prints the throughput.

Run: python examples/demo.py
"""

from __future__ import annotations

import math
import multiprocessing as mp
import shutil
import sys
import time
from multiprocessing.connection import wait

import numpy as np
from numpy.typing import NDArray

import shmstruct
from shmstruct import Atomic, Log, SharedStruct, Table, array, atomic, text

WORKERS = 4
SECONDS = 3.0  # from the start of the workers until they take no new job
MIN_WORK = 2.0  # seconds of work at least, however long the workers take to start
SPAN = 1_000_000  # numbers per job
CAPACITY = 20_000  # rows of the job table: far more than any machine gets through in SECONDS
OPS_PER_JOB = 5  # shared-state operations per job: claim, read the row, write the result, log, report
KNOWN = {10**6: 78_498, 10**7: 664_579, 10**8: 5_761_455, 10**9: 50_847_534, 10**10: 455_052_511}  # primes below


class Status(SharedStruct):
    phase: str = text(16, "starting")
    ready: int = 0  # workers waiting for the start
    deadline: float = 0.0  # time.monotonic() after which no worker takes a new job
    next_job: Atomic[int] = atomic()  # the next unclaimed row of the job table
    done: int = 0
    per_worker: NDArray[np.int64] = array(WORKERS)  # jobs finished by each worker
    cpu_seconds: NDArray[np.float64] = array((WORKERS, 2))  # each worker's CPU time: all, on shared state


class Job(SharedStruct):
    start: int = 0  # the segment [start, start + SPAN)
    primes: int = 0
    worker: shmstruct.int8 = -1


class Event(SharedStruct):
    worker: int
    job: int
    millis: float  # the sieve's time
    finished: float  # time.monotonic() at the end of the job


def primes_below(n: int) -> NDArray[np.int64]:
    """Every prime below ``n`` (the sieve of Eratosthenes)."""
    sieve = np.ones(n, dtype=bool)
    sieve[:2] = False
    for p in range(2, math.isqrt(n - 1) + 1):
        if sieve[p]:
            sieve[p * p :: p] = False
    return np.flatnonzero(sieve)


def count_primes(start: int, stop: int, base: NDArray[np.int64]) -> int:
    """How many primes lie in ``[start, stop)``: ``base`` holds every prime up to ``sqrt(stop)``."""
    sieve = np.ones(stop - start, dtype=bool)
    sieve[: max(0, 2 - start)] = False
    for p in base[: np.searchsorted(base, math.isqrt(stop - 1), side="right")].tolist():
        sieve[max(p * p, -(-start // p) * p) - start :: p] = False
    return int(np.count_nonzero(sieve))


def work(index: int, jobs: Table[Job], events: Log[Event], status: Status) -> None:
    base = primes_below(math.isqrt(len(jobs) * SPAN) + 1)
    with status.lock:  # say so, then sleep until the parent gives the start (no polling)
        status.ready += 1
        if not status.lock.wait_for(lambda: status.deadline > 0, timeout=60):
            return  # no start: the parent is gone
    # CPU time rather than elapsed time: with more workers than cores, a worker waits for a core
    # (or for a lock whose holder waits for one) and that is not the cost of the operation.
    cpu_at_start, shared = time.thread_time(), 0.0
    while time.monotonic() < status.deadline:  # time.monotonic() is one clock for the whole machine
        claiming = time.thread_time()
        i = status.next_job.add(1)  # claim a row: one lock-free atomic add, no two workers get the same
        if i >= len(jobs):
            break
        job = jobs[i]  # a checked proxy of row i
        start = job.start
        began, sieving = time.perf_counter(), time.thread_time()
        primes = count_primes(start, start + SPAN, base)
        ended, reporting = time.perf_counter(), time.thread_time()
        shmstruct.update(job, primes=primes, worker=index)
        events.append(worker=index, job=i, millis=(ended - began) * 1e3, finished=time.monotonic())
        with status.lock:  # two fields change together
            status.done += 1
            status.per_worker[index] += 1
        shared += (sieving - claiming) + (time.thread_time() - reporting)
    status.cpu_seconds[index] = time.thread_time() - cpu_at_start, shared  # its own row: no lock needed


def progress(status: Status, jobs: Table[Job], started: float) -> str:
    """One line of live numbers, read from the shared state."""
    snap = shmstruct.snapshot(status)  # one consistent moment: phase, done and per_worker agree
    if snap.phase == "starting":
        return f"  starting  {snap.ready}/{WORKERS} workers ready"
    claimed = min(snap.next_job, len(jobs))
    rows = jobs[:claimed].snapshot()  # the claimed rows, copied under the table's lock
    finished = rows["worker"] >= 0
    counted = claimed if finished.all() else int(np.argmin(finished))  # the segments finished without a gap
    per_worker = " ".join(map(str, snap.per_worker.tolist()))
    return (
        f"  {snap.phase:8} {time.monotonic() - started:3.1f} s {snap.done:5,} jobs ({per_worker})"
        f"  {int(rows['primes'][:counted].sum()):,} primes < {counted * SPAN // 1_000_000:,} M"
    )


class LiveView:
    """Shows progress lines: rewritten in place on a terminal, a line every half second otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stdout.isatty()
        self.width = 0
        self.printed = 0.0

    def show(self, line: str, last: bool = False) -> None:
        now = time.monotonic()
        if self.tty:
            line = line[: shutil.get_terminal_size().columns - 1]  # a wrapped line could not be rewritten
            print("\r" + line.ljust(self.width), end="\n" if last else "", flush=True)
            self.width = len(line)
        elif last or now - self.printed >= 0.5:
            print(line, flush=True)
            self.printed = now


def main() -> None:
    ctx = mp.get_context("spawn")  # the same with "fork" and "forkserver"
    status = Status()
    jobs = shmstruct.table(Job, CAPACITY)
    jobs.column("start")[:] = np.arange(CAPACITY) * SPAN  # numpy view, no copy
    events = shmstruct.log(Event, capacity=CAPACITY)
    workers = [ctx.Process(target=work, args=(i, jobs, events, status)) for i in range(WORKERS)]
    for w in workers:
        w.start()
    view = LiveView()
    launched = started = time.monotonic()
    pending = [w.sentinel for w in workers]
    while pending:
        finished = wait(pending, timeout=0.1)  # the workers that ended (a tenth of a second at most)
        pending = [s for s in pending if s not in finished]
        if not status.deadline and status.ready >= len(pending):  # every worker still running is ready
            with status.lock:
                started = time.monotonic()
                status.deadline = max(launched + SECONDS, started + MIN_WORK)
                status.phase = "running"
                status.lock.notify_all()  # wakes every worker waiting for the start
        elif status.deadline and time.monotonic() >= status.deadline and status.phase == "running":
            status.phase = "stopping"  # the workers finish the job they have, and take no other
        if pending:
            view.show(progress(status, jobs, started))
    for w in workers:
        w.join()
    status.phase = "finished"
    view.show(progress(status, jobs, started), last=True)

    done = status.done
    rows = jobs.records  # a structured numpy view of every row
    log = events.snapshot()
    elapsed = float(log["finished"].max()) - started  # from the start to the last job's end
    bound = max((power for power in KNOWN if power <= done * SPAN), default=min(KNOWN))
    below_bound = int(rows["primes"][: bound // SPAN].sum())
    print(f"{status.phase}: {done:,} jobs by {WORKERS} processes in {elapsed:.2f} s, {len(events):,} events logged")
    print(
        f"primes below {done * SPAN:,}: {int(rows['primes'][:done].sum()):,}; "
        f"below {bound:,}: {below_bound:,} (known: {KNOWN[bound]:,})"
    )
    print(
        f"jobs per worker: {status.per_worker.tolist()}, mean job time (ms):",
        [round(float(log["millis"][log["worker"] == w].mean()), 2) for w in range(WORKERS)],
    )
    cpu, shared = status.cpu_seconds.sum(axis=0)
    print(
        f"throughput: {done / elapsed:,.1f} jobs/s, {done * SPAN / elapsed / 1e6:,.0f} M numbers sieved/s, "
        f"{OPS_PER_JOB * done / elapsed:,.0f} shared-state operations/s ({OPS_PER_JOB} a job) "
        f"taking {shared / cpu:.1%} of the workers' CPU time"
    )
    assert all(w.exitcode == 0 for w in workers)
    assert done == len(events) == status.per_worker.sum() and sorted(log["job"].tolist()) == list(range(done))
    assert (rows["worker"][:done] >= 0).all() and (rows["worker"][done:] == -1).all()
    assert below_bound == KNOWN[bound]


if __name__ == "__main__":
    main()
