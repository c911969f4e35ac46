"""Stress: 8 processes of mixed attach / read / write / locked increment / append / detach, one
killed with SIGKILL every few seconds and replaced. Every completed increment is counted, no
log row is torn, nothing leaks. SHMSTRUCT_STRESS_SECONDS shortens it (default 20)."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import threading
import time

from conftest import ours_in_dev_shm
from helpers import JOIN_TIMEOUT, Counter, Mark, Tally, finish, mark_check, stress_worker

SECONDS = float(os.environ.get("SHMSTRUCT_STRESS_SECONDS", "20"))
WORKERS = 8
KILL_EVERY = 2.5


def test_mixed_work_survives_killed_processes() -> None:
    before = ours_in_dev_shm()
    ctx = mp.get_context("spawn")
    tally, scratch = Tally(), Counter()
    log = Mark.log(2_000_000)
    pacing = threading.Event()  # never set: its wait() paces the kills
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
    killed = 0
    deadline = time.monotonic() + SECONDS
    while time.monotonic() < deadline:
        pacing.wait(min(KILL_EVERY, max(0.0, deadline - time.monotonic())))
        if time.monotonic() >= deadline:
            break
        victim = _holder_if_caught(tally, workers) if killed % 2 == 0 else None  # aim at a lock holder every other time
        if victim is None:
            victim = rng.choice(sorted(wid for wid, p in workers.items() if p.is_alive()))
        os.kill(workers[victim].pid, signal.SIGKILL)  # type: ignore[arg-type]
        workers[victim].join(JOIN_TIMEOUT)
        killed += 1
        start_worker()
    tally.stop = True
    for wid, process in workers.items():
        if process.exitcode is None:
            finish(process)

    assert killed >= max(1, int(SECONDS / KILL_EVERY) - 1)
    recoveries = tally.lock.recoveries
    with tally.lock:
        total, completed = tally.total, int(tally.done.sum())
    # A worker killed between its two writes leaves total one ahead of its own count; that can only
    # happen while it held the lock, so the lock was taken over from it.
    assert 0 <= total - completed <= recoveries, (total, completed, recoveries)
    assert total > 10_000

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
    """The id of a worker seen holding the tally's lock, if one is seen within a few thousand looks."""
    by_pid = {p.pid: wid for wid, p in workers.items() if p.is_alive()}
    for _ in range(5000):
        holder = tally.lock.holder
        if holder in by_pid:
            return by_pid[holder]
    return None
