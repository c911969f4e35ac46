"""Child processes: the same memory and the same lock under fork, spawn and forkserver."""

from __future__ import annotations

import multiprocessing as mp
import pickle
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.context import BaseContext

import pytest
from array_helpers import EveryType, double_every_field
from helpers import (
    JOIN_TIMEOUT,
    Counter,
    add_to_remembered,
    finish,
    hold_lock_until_told,
    increment,
    pool_of,
    remember,
    run_child,
    running_child,
)
from state_helpers import State, put_back, sum_grid


def test_child_doubles_every_field_of_every_type(ctx: BaseContext) -> None:
    s = EveryType()
    run_child(ctx, double_every_field, s)
    assert (s.b, s.ub, s.h, s.uh, s.i, s.ui) == (-6, 6, -600, 600, -140000, 140000)
    assert (s.l, s.ul, s.q, s.uq) == (-(2**41), 2**41, -(2**51), 2**51)
    assert (s.f, s.d, s.flag, s.c, s.u) == (3.0, 4.5, True, b"b", "y")
    assert s.words == "hellohello"
    assert s.samples.tolist() == [0, 0, 0, 0, 0]
    assert (s.where.x, s.where.y, s.where.z) == (2.0, 4.0, 6.0)


def test_child_writes_to_arrays_are_seen_by_parent(ctx: BaseContext) -> None:
    s = EveryType()
    s.samples[:] = [1, 2, 3, 4, 5]
    s.matrix[:] = [[1, 2, 3], [4, 5, 6]]
    run_child(ctx, double_every_field, s)
    assert s.samples.tolist() == [2, 4, 6, 8, 10]
    assert s.matrix.tolist() == [[2, 4, 6], [8, 10, 12]]


def test_contended_locked_increments_are_exact(ctx: BaseContext) -> None:
    counter = Counter()
    workers = [ctx.Process(target=increment, args=(counter, 10_000)) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        finish(w)
    assert counter.value == 40_000


def test_pool_initializer_shares_memory_and_lock(ctx: BaseContext) -> None:
    counter = Counter()
    with pool_of(ctx, 2, initializer=remember, initargs=(counter,)) as pool:
        results = pool.map(add_to_remembered, [1] * 20)
    assert counter.value == 20
    assert sorted(results) == list(range(1, 21))  # every task saw the others' updates, in lock order


def test_process_pool_executor_initializer(ctx: BaseContext) -> None:
    counter = Counter()
    with ProcessPoolExecutor(2, mp_context=ctx, initializer=remember, initargs=(counter,)) as ex:
        results = list(ex.map(add_to_remembered, [2] * 10))
    assert counter.value == 20
    assert sorted(results) == list(range(2, 21, 2))


def test_lock_held_in_child_blocks_the_parent(ctx: BaseContext) -> None:
    s = Counter()
    holding, release = ctx.Event(), ctx.Event()
    with running_child(ctx, hold_lock_until_told, s, holding, release, stop=release):
        assert holding.wait(JOIN_TIMEOUT)
        assert s.lock.acquire(timeout=0.05) is False  # the child holds it
        assert s.value == 1
        release.set()
        assert s.lock.acquire(timeout=JOIN_TIMEOUT)
        try:
            assert s.value == 2  # the child's update inside its critical section is complete
        finally:
            s.lock.release()


def test_queue_passes_a_live_reference_not_a_copy(ctx: BaseContext) -> None:
    s = State(steps=1)
    queue_in, queue_out = ctx.Queue(), ctx.Queue()
    child = ctx.Process(target=put_back, args=(queue_in, queue_out))
    child.start()
    queue_in.put(s)  # starts the queue's feeder thread in this process
    back = queue_out.get(timeout=JOIN_TIMEOUT)
    finish(child)
    queue_in.close()
    queue_in.join_thread()  # a thread left running would make a later fork() copy it mid-flight
    assert s.steps == 101 and s.grid[0, 0] == 7.0
    assert back.lock is s.lock  # the same block is reused in this process
    back.steps = 5
    assert s.steps == 5


@pytest.mark.parametrize("child_method", ["spawn", "forkserver"])
def test_struct_made_in_fork_context_reaches_spawned_children(child_method: str) -> None:
    # The stdlib raises "A SemLock created in a fork context is being shared with a process in a
    # spawn context" here; a shmstruct lock reopens by name in any context.
    assert mp.get_start_method(allow_none=True) in (None, "fork", "forkserver", "spawn")
    s = EveryType()
    run_child(mp.get_context(child_method), double_every_field, s)
    assert s.b == -6


def test_pickle_round_trip_in_process_is_the_same_memory() -> None:
    s = State()
    t = pickle.loads(pickle.dumps(s))
    t.steps = 42
    t.grid[1, 1] = 3.0
    assert s.steps == 42 and s.grid[1, 1] == 3.0
    assert t.lock is s.lock
    with s.lock, t.lock:  # one re-entrant lock, not two that deadlock
        assert s.lock.held_by_me()
    nested = pickle.loads(pickle.dumps(s.origin))
    nested.x = 9.5
    assert s.origin.x == 9.5


def test_pool_map_arguments_and_results_are_live(ctx: BaseContext) -> None:
    s = State()
    s.grid[:] = 1.0
    with pool_of(ctx, 2) as pool:
        sums = pool.map(sum_grid, [s, s, s])
    assert sums == [12.0, 12.0, 12.0]
