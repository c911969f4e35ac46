"""Instances, tables, logs, rows and slices pickle to references and arrive live through every
channel, under every start method: queues, pipes, pool arguments and results, executors."""

from __future__ import annotations

import pickle
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.context import BaseContext

import pytest
from array_helpers import bump, bump_from_pipe, bump_from_queue, check_bumped, make_shared, shared_things
from helpers import JOIN_TIMEOUT, Counter, finish, pool_of


def test_queue_both_ways(ctx: BaseContext) -> None:
    things = shared_things()
    inbox, outbox = ctx.Queue(), ctx.Queue()
    child = ctx.Process(target=bump_from_queue, args=(inbox, outbox))
    child.start()
    inbox.put(things)  # starts the queue's feeder thread in this process
    back = outbox.get(timeout=JOIN_TIMEOUT)
    finish(child)
    inbox.close()
    inbox.join_thread()  # a thread left running would make a later fork() copy it mid-flight
    check_bumped(things, 1)
    assert back[0].lock is things[0].lock  # it came back to the same block in this process
    back[0].value = 40
    assert things[0].value == 40


def test_pipe_both_ways(ctx: BaseContext) -> None:
    things = shared_things()
    here, there = ctx.Pipe()
    child = ctx.Process(target=bump_from_pipe, args=(there,))
    child.start()
    here.send(things)
    assert here.poll(JOIN_TIMEOUT)
    back = here.recv()
    finish(child)
    check_bumped(things, 1)
    check_bumped(back, 1)


def test_pool_map_and_apply_async(ctx: BaseContext) -> None:
    things = shared_things()
    with pool_of(ctx, 2) as pool:
        results = pool.map(bump, [things, things])
        results.append(pool.apply_async(bump, (things,)).get(JOIN_TIMEOUT))
    check_bumped(things, 3)
    for back in results:
        check_bumped(back, 3)


def test_process_pool_executor_submit_and_map(ctx: BaseContext) -> None:
    things = shared_things()
    with ProcessPoolExecutor(2, mp_context=ctx) as executor:
        results = list(executor.map(bump, [things, things]))
        results.append(executor.submit(bump, things).result(JOIN_TIMEOUT))
    check_bumped(things, 3)
    for back in results:
        check_bumped(back, 3)


def test_workers_return_objects_they_created(ctx: BaseContext) -> None:
    with pool_of(ctx, 2) as pool:
        made = pool.map(make_shared, [5, 6])
        made.append(pool.apply_async(make_shared, (7,)).get(JOIN_TIMEOUT))
    with ProcessPoolExecutor(2, mp_context=ctx) as executor:
        made.append(executor.submit(make_shared, 8).result(JOIN_TIMEOUT))
    # The workers have exited; what they created lives on while this process uses it.
    for value, (counter, table, log) in zip([5, 6, 7, 8], made, strict=True):
        assert isinstance(counter, Counter) and counter.value == value
        assert table.column("x").tolist() == [float(value)] * 3
        assert log.column("x").tolist() == [float(value)]
        with counter.lock:
            counter.value += 1
        log.append(x=1.0)
        assert len(log) == 2


def test_a_reference_arrives_after_the_sender_let_go() -> None:
    data = pickle.dumps(Counter(value=3))  # the struct is gone from this process right away
    again = pickle.loads(data)
    assert again.value == 3


def test_closed_objects_cannot_be_sent() -> None:
    s = Counter()
    s.close()
    with pytest.raises(ValueError, match="is closed in this process"):
        pickle.dumps(s)


def test_a_lock_unpickled_many_times_keeps_its_block_once() -> None:
    from shmstruct._header import IN_FLIGHT, read_field
    from shmstruct._lifecycle import _keep_alive

    c = Counter(value=1)
    before = len(_keep_alive)
    for _ in range(1000):
        assert pickle.loads(pickle.dumps(c.lock)) is c.lock
    assert len(_keep_alive) == before + 1 and _keep_alive[c.name] is c._block_  # type: ignore[attr-defined]
    assert read_field(c._block_.mmap, IN_FLIGHT) == 0  # type: ignore[attr-defined]  # every reference arrived
    c.close()
    assert c.name not in _keep_alive
