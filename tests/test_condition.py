"""wait / notify on the lock of a struct, a table or a log, across processes: hand-overs, time-outs,
a notify sent before the wait, idle waiters use no CPU, killed waiters break nothing."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
from multiprocessing.context import BaseContext
from typing import Any

import pytest
from array_helpers import Particle
from helpers import JOIN_TIMEOUT, Script, finish
from sync_helpers import Turn, go_waiter, idle_waiter, ping_pong_child

ROUNDS = 200


def test_ping_pong_between_processes(ctx: BaseContext) -> None:
    t = Turn()
    child = ctx.Process(target=ping_pong_child, args=(t, ROUNDS))
    child.start()
    for _ in range(ROUNDS):
        with t.lock:
            t.turn = 1
            t.lock.notify_all()
            assert t.lock.wait_for(lambda: t.turn == 0, timeout=JOIN_TIMEOUT)
    finish(child)
    assert t.rounds == ROUNDS and t.turn == 0


def test_wait_times_out_and_holds_the_lock_again_at_the_same_depth() -> None:
    t = Turn()
    with t.lock, t.lock:
        assert t.lock.wait(timeout=0.05) is False
        assert t.lock.held_by_me()
        assert t.lock.wait_for(lambda: t.go, timeout=0.05) is False
        assert t.lock.wait_for(lambda: t.rounds, timeout=0) == 0
    assert not t.lock.held_by_me()  # two releases for two acquires, as before the waits
    with pytest.raises(AssertionError):
        t.lock.release()


def test_wait_and_notify_need_the_lock() -> None:
    t = Turn()
    with pytest.raises(RuntimeError, match="does not hold"):
        t.lock.wait(0)
    with pytest.raises(RuntimeError, match="does not hold"):
        t.lock.notify()
    with pytest.raises(RuntimeError, match="does not hold"):
        t.lock.notify_all()
    with pytest.raises(RuntimeError, match="does not hold"):
        t.lock.wait_for(lambda: False, timeout=0.01)
    with t.lock:
        with pytest.raises(ValueError):
            t.lock.wait(-5)
        with pytest.raises(ValueError):
            t.lock.notify(-1)
        t.lock.notify(0)


def test_a_notify_before_the_wait_is_not_lost_with_a_predicate(ctx: BaseContext) -> None:
    t = Turn()
    with t.lock:
        t.go = True
        t.lock.notify_all()  # nobody waits yet
    ready, results = ctx.Event(), ctx.Queue()
    child = ctx.Process(target=idle_waiter, args=(t, ready, results))
    child.start()
    cpu, wall = results.get(timeout=JOIN_TIMEOUT)  # the predicate is already true: no wait at all
    finish(child)
    assert cpu >= 0 and wall >= 0


def test_an_idle_waiter_uses_no_cpu() -> None:
    # How a waiter sleeps does not depend on how it was started: one start method is enough.
    ctx = mp.get_context("fork")
    t = Turn()
    ready, results = ctx.Event(), ctx.Queue()
    child = ctx.Process(target=idle_waiter, args=(t, ready, results))
    child.start()
    assert ready.wait(JOIN_TIMEOUT)
    threading.Event().wait(1.0)  # the child sleeps in wait() meanwhile: a poller would burn CPU
    with t.lock:
        t.go = True
        t.lock.notify_all()
    cpu, wall = results.get(timeout=JOIN_TIMEOUT)
    finish(child)
    assert wall >= 1.0, wall  # it did wait for the notify (its clock started before this process rested)
    assert cpu < 0.1, f"an idle waiter used {cpu:.3f} s of CPU in {wall:.2f} s"


def _start_waiters(ctx: BaseContext, t: Turn, count: int) -> list[Any]:
    """``count`` processes waiting in ``t.lock.wait_for(lambda: t.go)``, each started once the
    previous one holds the lock (it then lets go of it inside the wait)."""
    waiters = []
    for _ in range(count):
        ready = ctx.Event()
        waiter = ctx.Process(target=go_waiter, args=(t, ready))
        waiter.start()
        assert ready.wait(JOIN_TIMEOUT)
        waiters.append(waiter)
    return waiters


def test_a_killed_waiter_leaves_the_lock_and_the_other_waiters_working(ctx: BaseContext) -> None:
    t = Turn()
    waiters = _start_waiters(ctx, t, 3)
    with t.lock:  # every waiter has let go of the lock inside wait() by now
        pass
    victim = waiters.pop(1)
    os.kill(victim.pid, signal.SIGKILL)  # type: ignore[arg-type]
    victim.join(JOIN_TIMEOUT)
    with t.lock:
        t.go = True
        t.lock.notify_all()
    for waiter in waiters:
        finish(waiter)
    assert t.woken == 2
    assert t.lock.recoveries == 0 and t.lock.acquire(timeout=JOIN_TIMEOUT)
    t.lock.release()


def test_notify_one_wakes_a_waiter(ctx: BaseContext) -> None:
    t = Turn()
    waiters = _start_waiters(ctx, t, 2)
    with t.lock:
        t.go = True
        t.lock.notify()
    with t.lock:
        assert t.lock.wait_for(lambda: t.woken >= 1, timeout=JOIN_TIMEOUT)
        t.lock.notify(5)
    for waiter in waiters:
        finish(waiter)
    assert t.woken == 2


def test_a_log_consumer_waits_for_rows_without_polling(ctx: BaseContext) -> None:
    log = Particle.log(100)
    seen: list[float] = []

    def consume() -> None:
        with log.lock:
            while len(seen) < 5:
                log.lock.wait_for(lambda: len(log) > len(seen), timeout=JOIN_TIMEOUT)
                seen.extend(float(x) for x in log.column("x")[len(seen) :])

    consumer = threading.Thread(target=consume)
    consumer.start()
    for i in range(5):
        log.append(x=float(i))  # append notifies the waiters of the log's lock
    consumer.join(JOIN_TIMEOUT)
    assert seen == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_ctrl_c_interrupts_a_wait_and_the_lock_is_held_again(tmp_path: object) -> None:
    t = Turn()
    script = Script(
        str(tmp_path),
        f"""
        from sync_helpers import Turn
        t = Turn.attach({t.name!r})
        try:
            with t.lock:
                print("waiting", flush=True)
                try:
                    t.lock.wait()
                finally:
                    print("held again:", t.lock.held_by_me(), flush=True)
        except KeyboardInterrupt:
            print("interrupted; held:", t.lock.held_by_me(), flush=True)
        """,
    )
    script.expect("waiting")
    with t.lock:  # the script is inside wait() now: it let go of the lock
        pass
    os.kill(script.pid, signal.SIGINT)
    assert script.expect("held again:") == "held again: True"
    assert script.expect("interrupted") == "interrupted; held: False"
    assert script.finish()[0] == 0
    assert t.lock.acquire(block=False)
    t.lock.release()
