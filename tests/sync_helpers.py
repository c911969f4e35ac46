"""Schemas and child-process functions for the lock, condition and atomic tests (importable by
spawned children). Like ``helpers``, it imports neither numpy nor pydantic; the schemas with arrays
that the lock tests kill holders of live in ``array_helpers``."""

from __future__ import annotations

import threading
import time
import warnings
from typing import Any

from helpers import JOIN_TIMEOUT

import shmstruct
from shmstruct import Atomic, SharedStruct, atomic


class Guarded(SharedStruct):
    """Two counters that change together under the lock, and who is inside the lock right now."""

    a: int = 0
    b: int = 0
    inside: int = 0  # critical sections running now: more than 1 means the lock excluded nobody
    overlaps: int = 0  # critical sections that saw another one running, or a != b
    sections: int = 0  # critical sections finished by the checker
    stop: bool = False


def guarded_writer(g: Guarded, ready: Any) -> None:
    """Loop ``with lock: a += 1; b += 1`` until told to stop, spending most of the time inside."""
    ready.set()
    while not g.stop:
        with g.lock:
            g.inside += 1
            if g.inside != 1:
                g.overlaps += 1
            g.a += 1
            for _ in range(20):  # a longer critical section: a pause lands inside it most often
                g.b = g.a - 1
            g.b += 1
            g.inside -= 1


def guarded_checker(g: Guarded, ready: Any, results: Any) -> None:
    """Inside the lock, check a == b and that nothing changes meanwhile; report warnings seen.
    Between two checks it rests a moment outside the lock, so that the writer (the lock is not
    fair) gets the lock often; during a pause of the writer it is blocked asking for it."""
    rest = threading.Event()  # never set: its wait() is the rest
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ready.set()
        while not g.stop:
            rest.wait(0.0005)
            with g.lock:
                g.inside += 1
                before = (g.a, g.b)
                if g.inside != 1 or before[0] != before[1]:
                    g.overlaps += 1
                for _ in range(50):
                    if (g.a, g.b) != before:
                        g.overlaps += 1
                        break
                g.sections += 1
                g.inside -= 1
    results.put([str(w.message) for w in caught])


def try_lock_elsewhere(g: Any, results: Any) -> None:
    """Report whether this process can take ``g``'s lock while another holds it."""
    results.put((g.lock.acquire(block=False), g.lock.acquire(timeout=0.2)))


def exit_thread_holding(lock: Any) -> None:
    """A thread that takes the lock and ends without releasing it."""
    thread = threading.Thread(target=lock.acquire)
    thread.start()
    thread.join(JOIN_TIMEOUT)


def recover_from_exited_thread(g: Guarded, results: Any) -> None:
    """In a child: a thread exits holding the lock; the main thread then takes it and reports the warning."""
    exit_thread_holding(g.lock)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with g.lock:
            g.a += 1
    results.put([str(w.message) for w in caught])


def lock_and_report(g: Guarded, waiting: Any, results: Any) -> None:
    """Take the lock (waiting as long as it takes), count, and report the warnings seen."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        waiting.set()
        with g.lock:
            g.a += 1
    results.put([str(w.message) for w in caught])


def attach_and_report(name: str, results: Any) -> None:
    """Attach to a Tick by name and report the error, if any."""
    try:
        Tick.attach(name)
    except shmstruct.ShmStructError as exc:
        results.put((type(exc).__name__, str(exc)))
    else:
        results.put(("attached", ""))


class Tick(SharedStruct):
    count: int = 0


def locked_increments(t: Tick, times: int, threads: int) -> None:
    """``times`` locked increments in each of ``threads`` threads."""

    def work() -> None:
        for _ in range(times):
            with t.lock:
                t.count += 1

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(JOIN_TIMEOUT)


# --------------------------------------------------------------------------- wait and notify


class Turn(SharedStruct):
    turn: int = 0  # whose turn: 0 the parent, 1 the child
    rounds: int = 0
    go: bool = False
    woken: int = 0


def ping_pong_child(t: Turn, rounds: int) -> None:
    """Take turns with the parent: wait for turn 1, hand it back as turn 0."""
    for _ in range(rounds):
        with t.lock:
            t.lock.wait_for(lambda: t.turn == 1)
            t.rounds += 1
            t.turn = 0
            t.lock.notify_all()


def idle_waiter(t: Turn, ready: Any, results: Any) -> None:
    """Wait (holding nothing meanwhile) until ``go``; report the CPU time and wall time the wait took
    (both started before ``ready`` is set: whatever the parent does after ``ready`` falls inside)."""
    with t.lock:
        cpu, wall = time.process_time(), time.monotonic()
        ready.set()
        t.lock.wait_for(lambda: t.go)
        results.put((time.process_time() - cpu, time.monotonic() - wall))


def go_waiter(t: Turn, ready: Any) -> None:
    """Wait until ``go``, then count itself as woken and say so."""
    with t.lock:
        ready.set()
        t.lock.wait_for(lambda: t.go)
        t.woken += 1
        t.lock.notify_all()


# --------------------------------------------------------------------------- atomics


class Hits(SharedStruct):
    total: Atomic[int] = atomic()
    small: Atomic[shmstruct.uint32] = atomic()
    signed: Atomic[shmstruct.int32] = atomic()
    big: Atomic[shmstruct.uint64] = atomic()
    plain: int = 0
    next_ticket: Atomic[int] = atomic()


class Claim(SharedStruct):
    claims: Atomic[shmstruct.uint32] = atomic()
    owner: int = -1


def add_many(h: Hits, times: int, go: Any) -> None:
    go.wait(JOIN_TIMEOUT)
    total = h.total
    for _ in range(times):
        total.add(1)


def claim_tickets(h: Hits, claims: Any, worker: int, tickets: int, go: Any, results: Any) -> None:
    """Claim tickets with compare_exchange until none are left; report how many this worker got."""
    go.wait(JOIN_TIMEOUT)
    counter = h.next_ticket
    got = 0
    while True:
        ticket = counter.load()
        if ticket >= tickets:
            break
        if counter.compare_exchange(ticket, ticket + 1):
            row = claims[ticket]
            row.claims.add(1)
            row.owner = worker
            got += 1
    results.put(got)


def wait_for_change(h: Hits, old: int, ready: Any, results: Any) -> None:
    ready.set()
    changed = h.total.wait(old, timeout=JOIN_TIMEOUT)
    results.put((changed, h.total.load()))


def hold_as_user(target: Any, control: Turn, index: int) -> None:
    """A user of ``target`` (it arrived as an argument): say so, then wait to be let go."""
    assert target.value >= 0
    with control.lock:
        control.rounds += 1
        control.lock.notify_all()
        control.lock.wait_for(lambda: control.turn > index)
