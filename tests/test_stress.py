"""Stress: 4 processes of mixed attach / read / write / locked increment / append / detach, one
killed with SIGKILL after every stretch of progress and replaced. Every completed increment is
counted, no log row is torn or lost, nothing leaks. Paced by progress, never by the clock: a loaded
machine only makes it slower, and however many operations happen, each one must be accounted for.
SHMSTRUCT_STRESS_KILLS sets the number of kills (default 8)."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
from typing import Any

from array_helpers import Mark, Tally, mark_check, stress_worker
from helpers import JOIN_TIMEOUT, Counter, finish, segment_exists, wait_until

KILLS = int(os.environ.get("SHMSTRUCT_STRESS_KILLS", "8"))
WORKERS = 4
PROGRESS = 5_000  # locked increments between two kills


def test_mixed_work_survives_killed_processes() -> None:
    ctx = mp.get_context("spawn")
    tally, scratch = Tally(), Counter()
    log = Mark.log(1_000_000)
    # Every worker, the replacements too, starts (and attaches) before any work begins, so that no
    # start competes for the CPU with busy workers; a replacement waits for its go.
    standby: list[tuple[mp.process.BaseProcess, Any]] = []
    readies = []
    for wid in range(WORKERS + KILLS):
        ready, go = ctx.Event(), ctx.Event()
        process = ctx.Process(target=stress_worker, args=(wid, tally.name, log, scratch.name, ready, go))
        process.start()
        standby.append((process, go))
        readies.append(ready)
    workers: dict[int, mp.process.BaseProcess] = {}

    def release_worker() -> None:
        process, go = standby.pop(0)
        workers[len(workers)] = process
        go.set()

    def progressed(mark: int) -> bool:
        return tally.total >= mark + PROGRESS

    try:
        assert all(ready.wait(JOIN_TIMEOUT) for ready in readies), "a worker did not start"
        for _ in range(WORKERS):
            release_worker()
        rng = random.Random(0)
        for kill in range(KILLS):
            assert wait_until(lambda mark=tally.total: progressed(mark)), "the workers made no progress"
            aim = kill % 2 == 0  # at a lock holder every other time
            victim = _holder_if_caught(tally, workers) if aim else None
            if victim is None:
                victim = rng.choice(sorted(wid for wid, p in workers.items() if p.exitcode is None))
            os.kill(workers[victim].pid, signal.SIGKILL)  # type: ignore[arg-type]
            workers[victim].join(JOIN_TIMEOUT)
            assert workers[victim].exitcode == -signal.SIGKILL
            release_worker()
    finally:
        tally.stop = True
        while standby:  # only if the test failed early: let them see the stop and exit
            release_worker()
    for process in workers.values():
        if process.exitcode is None:
            finish(process)

    # A worker killed between two writes of one locked section leaves the total one ahead of the
    # counts; that can only happen while it held the lock, so the lock was taken over from it.
    with tally.lock:
        total, completed = tally.total, int(tally.done.sum())
    assert 0 <= total - completed <= tally.lock.recoveries, (total, completed, tally.lock.recoveries)
    assert total >= KILLS * PROGRESS
    with scratch.lock:
        rounds, counted = scratch.value, int(tally.attached.sum())
    assert 0 <= rounds - counted <= scratch.lock.recoveries, (rounds, counted, scratch.lock.recoveries)
    assert counted > 0

    rows = log.snapshot()
    assert len(rows) > 0
    assert (rows["check"] == mark_check(rows["worker"], rows["seq"])).all(), "a torn log row"
    for wid in workers:  # every append that returned is there, once, in order
        seqs = rows["seq"][rows["worker"] == wid]
        assert (seqs == range(len(seqs))).all(), f"worker {wid}: rows lost or duplicated"

    names = (tally.name, scratch.name, log.name)
    tally.close(), scratch.close(), log.close()
    assert not any(map(segment_exists, names)), "the last user's close() did not remove the segments"
    print(f"stress: {KILLS} killed, {total:,} increments, {len(rows):,} log rows, {rounds:,} attach rounds")


def _holder_if_caught(tally: Tally, workers: dict[int, mp.process.BaseProcess]) -> int | None:
    """The id of a worker caught holding the tally's lock (stopped with SIGSTOP while it holds it,
    so that the SIGKILL that follows lands inside its critical section), if one is caught within
    a few thousand looks."""
    by_pid = {p.pid: wid for wid, p in workers.items() if p.is_alive()}
    for _ in range(5000):
        holder = tally.lock.holder
        if holder in by_pid:
            os.kill(holder, signal.SIGSTOP)
            if tally.lock.holder == holder:
                return by_pid[holder]
            os.kill(holder, signal.SIGCONT)
    return None
