"""Stress: 8 processes of mixed attach / read / write / locked increment / append / detach, one
killed with SIGKILL after every stretch of progress and replaced. Every completed increment is
counted, no log row is torn, nothing leaks. Paced by progress, never by the clock, so a loaded
machine only makes it slower. SHMSTRUCT_STRESS_KILLS sets the number of kills (default 8)."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal

from conftest import ours_in_dev_shm
from helpers import JOIN_TIMEOUT, Counter, Mark, Tally, finish, mark_check, stress_worker, wait_until

KILLS = int(os.environ.get("SHMSTRUCT_STRESS_KILLS", "8"))
WORKERS = 8
PROGRESS = 20_000  # locked increments between two kills


def test_mixed_work_survives_killed_processes() -> None:
    before = ours_in_dev_shm()
    ctx = mp.get_context("spawn")
    tally, scratch = Tally(), Counter()
    log = Mark.log(2_000_000)
    workers: dict[int, mp.process.BaseProcess] = {}
    next_id = 0

    def start_worker() -> None:
        nonlocal next_id
        ready = ctx.Event()
        process = ctx.Process(target=stress_worker, args=(next_id, tally.name, log, scratch.name, ready))
        process.start()
        assert ready.wait(JOIN_TIMEOUT), "a worker did not start"
        workers[next_id] = process
        next_id += 1

    for _ in range(WORKERS):
        start_worker()
    rng = random.Random(0)
    for killed in range(KILLS):
        mark = tally.total
        assert wait_until(lambda: tally.total >= mark + PROGRESS, timeout=JOIN_TIMEOUT), "the workers made no progress"
        victim = _holder_if_caught(tally, workers) if killed % 2 == 0 else None  # aim at a lock holder every other time
        if victim is None:
            victim = rng.choice(sorted(wid for wid, p in workers.items() if p.is_alive()))
        os.kill(workers[victim].pid, signal.SIGKILL)  # type: ignore[arg-type]
        workers[victim].join(JOIN_TIMEOUT)
        start_worker()
    tally.stop = True
    for wid, process in workers.items():
        if process.exitcode is None:
            finish(process)

    killed = KILLS
    recoveries = tally.lock.recoveries
    with tally.lock:
        total, completed = tally.total, int(tally.done.sum())
    # A worker killed between its two writes leaves total one ahead of its own count; that can only
    # happen while it held the lock, so the lock was taken over from it.
    assert 0 <= total - completed <= recoveries, (total, completed, recoveries)
    assert total >= KILLS * PROGRESS

    rows = log.snapshot()
    appended = len(rows)
    assert appended > 10_000
    assert (rows["check"] == mark_check(rows["worker"], rows["seq"])).all(), "a torn log row"
    for wid in range(next_id):
        seqs = rows["seq"][rows["worker"] == wid]
        assert (seqs == range(len(seqs))).all(), f"worker {wid}: rows lost or duplicated"

    names = {tally.name, scratch.name, log.name}
    tally.close(), scratch.close(), log.close()
    del tally, scratch, log, rows
    assert not {n for n in ours_in_dev_shm() - before if n.split("shms_", 1)[1] in names}
    assert ours_in_dev_shm() == before
    print(f"stress: {killed} killed, {total:,} increments, {appended:,} log rows, {recoveries} lock takeovers")


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
