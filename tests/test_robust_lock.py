"""The robust lock: a paused holder is never taken over; a dead holder (process killed, thread
exited) hands the lock to the next acquirer, who is warned; threads and processes together count
exactly; a forked child holds nothing."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal
import threading
import time
import warnings
from multiprocessing.context import BaseContext

import numpy as np
import pytest
from helpers import JOIN_TIMEOUT, finish, hold_lock_forever, run_child, wait_until
from sync_helpers import (
    Bulky,
    Guarded,
    Row,
    Tick,
    append_forever,
    attach_and_report,
    exit_thread_holding,
    guarded_checker,
    guarded_writer,
    lock_and_report,
    locked_increments,
    recover_from_exited_thread,
    try_lock_elsewhere,
    update_forever,
)

from shmstruct import DeadHolderWarning

PAUSES = 10  # per start method: 30 in all


def test_a_paused_holder_is_never_taken_over(ctx: BaseContext) -> None:
    g = Guarded()
    writer_ready, checker_ready, results = ctx.Event(), ctx.Event(), ctx.Queue()
    writer = ctx.Process(target=guarded_writer, args=(g, writer_ready))
    checker = ctx.Process(target=guarded_checker, args=(g, checker_ready, results))
    writer.start()
    checker.start()
    assert writer_ready.wait(JOIN_TIMEOUT) and checker_ready.wait(JOIN_TIMEOUT)
    rng = random.Random(9)
    try:
        for _ in range(PAUSES):  # each pause lands while the writer holds the lock
            _pause_while_holding(g.lock, writer.pid, rng)  # type: ignore[arg-type]
            try:
                assert g.lock.holder == writer.pid
                threading.Event().wait(rng.uniform(0.05, 0.3))  # the checker keeps asking meanwhile
                assert g.lock.holder == writer.pid  # nobody took it from the paused holder
            finally:
                os.kill(writer.pid, signal.SIGCONT)  # type: ignore[arg-type]
        assert wait_until(lambda: g.sections > 0), "the checker never got the lock"
    finally:
        g.stop = True
    finish(writer)
    messages = results.get(timeout=JOIN_TIMEOUT)
    finish(checker)
    assert messages == [], messages
    assert g.overlaps == 0 and g.inside == 0
    assert g.a == g.b > 0 and g.sections > 0
    assert g.lock.recoveries == 0 and g.lock.dead_holder is None
    # Afterwards, the lock still excludes: while this process holds it, another cannot take it.
    with g.lock:
        probe = ctx.Process(target=try_lock_elsewhere, args=(g, results))
        probe.start()
        assert results.get(timeout=JOIN_TIMEOUT) == (False, False)
        finish(probe)


def _pause_while_holding(lock: object, pid: int, rng: random.Random) -> None:
    """SIGSTOP process ``pid`` at a moment it holds ``lock`` (retrying until one is caught).

    The retries are bounded by a generous deadline, not by a count: on a loaded machine a count of
    fast polls can pass while the holder is not even scheduled. Between polls this process sleeps
    briefly, so that it does not take the core the holder needs."""
    deadline = time.monotonic() + JOIN_TIMEOUT
    while time.monotonic() < deadline:
        if lock.holder == pid:  # type: ignore[attr-defined]
            threading.Event().wait(rng.uniform(0, 0.002))  # somewhere inside the critical section
            os.kill(pid, signal.SIGSTOP)
            if lock.holder == pid:  # type: ignore[attr-defined]
                return
            os.kill(pid, signal.SIGCONT)
        else:
            time.sleep(0.0002)
    raise AssertionError(f"process {pid} was never seen holding the lock in {JOIN_TIMEOUT} s")


def _kill_while_holding(ctx: BaseContext, target: object, thing: object) -> int:
    """Start ``target(thing, ready)``, wait until it is seen holding the lock, SIGKILL it there."""
    ready = ctx.Event()
    child = ctx.Process(target=target, args=(thing, ready))
    child.start()
    assert ready.wait(JOIN_TIMEOUT)
    pid: int = child.pid  # type: ignore[assignment]
    try:
        _pause_while_holding(thing.lock, pid, random.Random(pid))  # type: ignore[attr-defined]
    except AssertionError:
        child.kill()
        raise
    os.kill(pid, signal.SIGKILL)
    child.join(JOIN_TIMEOUT)
    assert child.exitcode == -signal.SIGKILL
    return pid


def test_a_holder_killed_in_the_middle_of_update_hands_the_lock_over(ctx: BaseContext) -> None:
    b = Bulky()
    pid = _kill_while_holding(ctx, update_forever, b)
    with pytest.warns(DeadHolderWarning, match=rf"process {pid} died while holding it"):
        assert b.lock.acquire(timeout=JOIN_TIMEOUT)
    try:
        assert b.lock.recoveries == 1 and b.lock.dead_holder == pid
        assert b.lock.holder == os.getpid()
        assert b.serial >= 1  # the child was updating (the last update may be half done: that is the warning)
    finally:
        b.lock.release()
    b.update(serial=0, data=np.zeros(b.data.shape), check=0)  # and the lock works as before, without a warning
    assert b.lock.holder is None


def test_a_holder_killed_in_the_middle_of_append_loses_only_its_row(ctx: BaseContext) -> None:
    log = Row.log(200, ring=True)
    pid = _kill_while_holding(ctx, append_forever, log)
    with pytest.warns(DeadHolderWarning, match=rf"process {pid} died while holding it"):
        log.append(seq=-5, check=-15)
    rows = log.snapshot()
    assert (rows["check"] == rows["seq"] * 3).all(), "a row of an unfinished append became visible"
    finished = rows[:-1]  # the child's, in order, each complete
    assert (np.diff(finished["seq"]) == 1).all()
    assert (finished["payload"] == (finished["seq"] % 2)[:, None]).all()
    assert rows["seq"][-1] == -5 and (rows["payload"][-1] == 0).all() and log.lock.recoveries == 1


def test_a_thread_that_exits_holding_the_lock_hands_it_over() -> None:
    g = Guarded()
    exit_thread_holding(g.lock)
    assert g.lock.holder == os.getpid() and not g.lock.held_by_me()
    warned = pytest.warns(
        DeadHolderWarning, match=rf"a thread of this process \({os.getpid()}\) exited while holding it"
    )
    with warned, g.lock:
        g.a += 1
    assert g.lock.recoveries == 1 and g.lock.holder is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with g.lock:  # repaired: no second warning
            g.a += 1
    assert g.a == 2


def test_a_thread_that_exits_holding_the_lock_in_a_child_hands_it_over(ctx: BaseContext) -> None:
    g = Guarded()
    results = ctx.Queue()
    child = ctx.Process(target=recover_from_exited_thread, args=(g, results))
    child.start()
    messages = results.get(timeout=JOIN_TIMEOUT)
    finish(child)
    assert len(messages) == 1 and "exited while holding it" in messages[0]
    assert g.a == 1 and g.lock.recoveries == 1


def test_a_waiting_process_is_handed_the_lock_when_the_holder_is_killed(ctx: BaseContext) -> None:
    # The waiter blocks with no timeout: only the kernel's hand-over on the holder's death wakes it.
    g = Guarded()
    held, waiting, results = ctx.Event(), ctx.Event(), ctx.Queue()
    holder = ctx.Process(target=hold_lock_forever, args=(g, held, "lock"))
    holder.start()
    assert held.wait(JOIN_TIMEOUT)
    waiter = ctx.Process(target=lock_and_report, args=(g, waiting, results))
    waiter.start()
    assert waiting.wait(JOIN_TIMEOUT)
    os.kill(holder.pid, signal.SIGKILL)  # type: ignore[arg-type]
    messages = results.get(timeout=JOIN_TIMEOUT)
    finish(waiter)
    holder.join(JOIN_TIMEOUT)
    assert len(messages) == 1 and f"process {holder.pid} died while holding it" in messages[0], messages
    assert g.a == 1 and g.lock.recoveries == 1 and g.lock.holder is None


def test_threads_in_several_processes_count_exactly(ctx: BaseContext) -> None:
    t = Tick()
    children = [ctx.Process(target=locked_increments, args=(t, 1_000, 8)) for _ in range(2)]
    for child in children:
        child.start()
    locked_increments(t, 1_000, 8)
    for child in children:
        finish(child)
    assert t.count == 3 * 8 * 1_000


def test_four_processes_count_exactly(ctx: BaseContext) -> None:
    t = Tick()
    children = [ctx.Process(target=locked_increments, args=(t, 10_000, 1)) for _ in range(4)]
    for child in children:
        child.start()
    for child in children:
        finish(child)
    assert t.count == 40_000


def _child_after_fork(t: Tick) -> None:
    assert t.lock.holder == os.getppid()
    assert not t.lock.held_by_me()
    assert not t.lock.acquire(block=False)
    try:
        t.lock.release()
    except AssertionError:
        pass
    else:
        raise AssertionError("a forked child released its parent's lock")
    os._exit(0)


def test_a_forked_child_holds_nothing() -> None:
    t = Tick()
    with t.lock, t.lock:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                _child_after_fork(t)
            finally:
                os._exit(1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert t.lock.held_by_me()
    assert not t.lock.held_by_me() and t.lock.holder is None


def test_the_lock_is_released_by_its_own_thread_only() -> None:
    t = Tick()
    errors: list[BaseException] = []
    with t.lock:

        def release_from_elsewhere() -> None:
            try:
                t.lock.release()
            except AssertionError as exc:
                errors.append(exc)

        other = threading.Thread(target=release_from_elsewhere)
        other.start()
        other.join(JOIN_TIMEOUT)
        assert t.lock.held_by_me()
    assert len(errors) == 1 and "does not hold" in str(errors[0])


def test_a_lock_held_while_its_struct_is_dropped_stays_valid() -> None:
    # glibc links held robust mutexes through their memory: the mapping must outlive the holding.
    t = Tick()
    other = Tick()
    lock = t.lock
    lock.acquire()
    del t
    import gc

    gc.collect()
    with other.lock:  # links a second held mutex next to the first
        pass
    lock.release()
    assert not lock.held_by_me()


def test_an_old_format_segment_is_refused_naming_both_versions() -> None:
    ctx = mp.get_context("spawn")  # a forked child would inherit this process's open block
    t = Tick()
    mapping = t._block_.mmap  # type: ignore[attr-defined]
    original = bytes(mapping[8:12])  # the format version
    mapping[8:12] = (1).to_bytes(4, "little")
    results = ctx.Queue()
    try:
        run_child(ctx, attach_and_report, t.name, results)
    finally:
        mapping[8:12] = original
    kind, message = results.get(timeout=JOIN_TIMEOUT)
    assert kind == "SegmentError" and "format 1; this version reads format 2" in message, message
