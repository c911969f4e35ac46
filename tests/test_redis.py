"""The Redis store (``shmstruct.redis``) against a real redis-server: processes on this machine
stand in for hosts, each with its own connection."""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import threading
from multiprocessing.context import BaseContext
from typing import Annotated, Any, ClassVar

import numpy as np
import pytest
from helpers import JOIN_TIMEOUT, unique_name, wait_until
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from redis_helpers import RedisServer

import shmstruct
import shmstruct.redis
from shmstruct import Atomic, SharedStruct, array, atomic, nested, text


class Point(SharedStruct):
    x: float = 0.0
    y: shmstruct.float32 = 0.0


class Job(SharedStruct):
    steps: int = 0
    small: shmstruct.int8 = 0
    big: shmstruct.uint64 = 0
    ok: bool = False
    half: shmstruct.float16 = 0.0
    ratio: float = 0.5
    code: Annotated[bytes, ctypes.c_char] = b"a"
    label: str = text(16)
    hits: Atomic[int] = atomic()
    count32: Atomic[shmstruct.int32] = atomic()
    grid: NDArray[np.float64] = array((2, 3))
    flags: NDArray[np.bool_] = array(4)
    where: Point = nested()


class Pair(SharedStruct):
    a: int = 0
    b: int = 0


class Counter(SharedStruct):
    hits: Atomic[int] = atomic()


def _changed_job() -> type[SharedStruct]:
    class Job(SharedStruct):  # Job's name, other fields: what a changed version of a schema looks like
        steps: int = 0

    return Job


JobV2 = _changed_job()


def key(base: str) -> str:
    return unique_name(base)


@pytest.fixture
def store(redis_url: str) -> Any:
    with shmstruct.redis.connect(redis_url) as connected:
        yield connected


def command_count(store: Any) -> int:
    """How many commands the server has run (INFO's total_commands_processed); the INFO itself is one."""
    return int(store.client.info("stats")["total_commands_processed"])


# --------------------------------------------------------------------------- children


def child_attach_and_write(url: str, name: str, done: Any) -> None:
    with shmstruct.redis.connect(url) as store:
        job = store.attach(Job, name)
        assert job.steps == 7 and job.label == "from parent"
        job.steps = 8
        shmstruct.update(job, label="from child", ratio=0.25)
        job.where.x = 1.5
    done.put("ok")


def child_add(url: str, name: str, times: int, ready: Any, go: Any) -> None:
    with shmstruct.redis.connect(url) as store:
        counter = store.attach(Counter, name)
        ready.wait(JOIN_TIMEOUT)
        go.wait(JOIN_TIMEOUT)
        for _ in range(times):
            counter.hits.add(1)


def child_pair_writer(url: str, name: str, rounds: int) -> None:
    with shmstruct.redis.connect(url) as store:
        pair = store.attach(Pair, name)
        for i in range(1, rounds + 1):
            shmstruct.update(pair, a=i, b=-i)


def child_hold_then_write(url: str, name: str, holding: Any, result: Any) -> None:
    with shmstruct.redis.connect(url, lease=0.5) as store:
        pair = store.attach(Pair, name)
        pair.lock.acquire()
        holding.set()
        os.kill(os.getpid(), signal.SIGSTOP)  # paused past the lease: the parent resumes it later
        try:
            pair.a = 999  # under a lock whose lease has passed
        except shmstruct.redis.LeaseExpiredError as exc:
            result.put(("refused", str(exc)))
        else:
            result.put(("written", ""))
        try:
            pair.lock.release()
        except shmstruct.redis.LeaseExpiredError:
            result.put("release refused")
        else:
            result.put("release accepted")


# --------------------------------------------------------------------------- tests


def test_create_then_attach_from_another_process(ctx: BaseContext, store: Any, redis_url: str) -> None:
    name = key("r-attach")
    job = store.create(Job, name, steps=7, label="from parent")
    done = ctx.Queue()
    child = ctx.Process(target=child_attach_and_write, args=(redis_url, name, done))
    child.start()
    assert done.get(timeout=JOIN_TIMEOUT) == "ok"
    child.join(JOIN_TIMEOUT)
    assert child.exitcode == 0
    assert (job.steps, job.label, job.ratio, job.where.x) == (8, "from child", 0.25, 1.5)
    store.delete(name)


def test_every_field_kind_round_trips(store: Any) -> None:
    name = key("r-kinds")
    job = store.create(Job, name)
    job.steps = -(2**63)
    job.small = -128
    job.big = 2**64 - 1
    job.ok = True
    job.half = 1.1  # stored as float16: 1.099609375
    job.ratio = float("inf")
    job.code = b"z"
    job.label = "héllo wörld"
    job.hits.store(2**63 - 1)
    job.count32.store(-(2**31))
    job.grid = np.arange(6.0).reshape(2, 3)
    job.flags = np.array([True, False, True, True])
    job.where.y = 0.1  # stored as float32
    assert job.steps == -(2**63) and job.small == -128 and job.big == 2**64 - 1 and job.ok is True
    assert job.half == 1.099609375 and job.ratio == float("inf") and job.code == b"z"
    assert job.label == "héllo wörld"
    assert job.hits.load() == 2**63 - 1 and job.count32.load() == -(2**31)
    assert np.array_equal(job.grid, np.arange(6.0).reshape(2, 3)) and job.grid.dtype == np.float64
    assert job.flags.tolist() == [True, False, True, True]
    assert job.where.y == float(np.float32(0.1))
    snap = shmstruct.snapshot(job)
    assert type(snap) is shmstruct.snapshot_model(Job)
    assert (snap.steps, snap.big, snap.label, snap.where.y, snap.hits) == (
        -(2**63),
        2**64 - 1,
        "héllo wörld",
        float(np.float32(0.1)),
        2**63 - 1,
    )
    assert np.array_equal(snap.grid, job.grid)
    # Integers are Redis integers: a plain HINCRBY works on them.
    assert store.client.hincrby(f"shmstruct:{{{name}}}", "small", 1) == -127
    assert job.small == -127
    store.delete(name)


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("small", 300, shmstruct.FieldValueError),
        ("steps", "7", shmstruct.FieldTypeError),
        ("label", "x" * 17, shmstruct.FieldValueError),
        ("grid", np.ones(5), shmstruct.FieldValueError),
        ("ok", 1, shmstruct.FieldTypeError),
        ("nope", 1, shmstruct.FieldTypeError),
    ],
)
def test_bad_values_are_refused_before_anything_is_sent(store: Any, field: str, value: Any, error: type) -> None:
    name = key(f"r-bad-{field}")
    job = store.create(Job, name, steps=3)
    before = command_count(store)
    with pytest.raises(error, match=field if field != "nope" else "has no field 'nope'"):
        setattr(job, field, value)
    with pytest.raises(error):
        shmstruct.update(job, **{"ratio": 0.75, field: value})
    with pytest.raises(shmstruct.FieldValueError):
        job.count32.add(2**40)
    assert command_count(store) == before + 1  # only the INFO that counted
    assert (job.steps, job.ratio) == (3, 0.5)
    with pytest.raises(error):
        store.create(Job, key(f"r-bad-new-{field}"), **{field: value})
    assert not store.exists(key(f"r-bad-new-{field}"))
    store.delete(name)


def test_atomic_adds_from_four_processes_are_exact(ctx: BaseContext, store: Any, redis_url: str) -> None:
    name = key("r-adds")
    counter = store.create(Counter, name)
    times, workers = 10_000, 4
    ready = ctx.Barrier(workers + 1)
    go = ctx.Event()
    children = [ctx.Process(target=child_add, args=(redis_url, name, times, ready, go)) for _ in range(workers)]
    for child in children:
        child.start()
    ready.wait(JOIN_TIMEOUT)
    go.set()
    for child in children:
        child.join(JOIN_TIMEOUT * 4)
        assert child.exitcode == 0
    assert counter.hits.load() == times * workers
    store.delete(name)


def test_an_atomic_add_past_the_range_changes_nothing(store: Any) -> None:
    name = key("r-range")
    job = store.create(Job, name)
    job.count32.store(2**31 - 2)
    with pytest.raises(shmstruct.FieldValueError, match=r"Job.count32: cannot add 5.*int32_t.*nothing changed"):
        job.count32.add(5)
    assert job.count32.load() == 2**31 - 2
    job.hits.store(2**63 - 2)
    with pytest.raises(shmstruct.FieldValueError, match="Job.hits"):
        job.hits.add(5)  # past int64: Redis's own overflow check
    assert job.hits.load() == 2**63 - 2
    assert job.count32.add(1) == 2**31 - 2
    assert job.count32.compare_exchange(2**31 - 1, 5) and not job.count32.compare_exchange(4, 6)
    assert job.count32.exchange(9) == 5 and job.count32.load() == 9
    store.delete(name)


def test_update_and_snapshot_are_atomic_under_a_concurrent_writer(ctx: BaseContext, store: Any, redis_url: str) -> None:
    name = key("r-pair")
    pair = store.create(Pair, name)
    rounds = 3_000
    writer = ctx.Process(target=child_pair_writer, args=(redis_url, name, rounds))
    writer.start()
    seen = 0
    while writer.is_alive() or seen == 0:
        snap = shmstruct.snapshot(pair)
        assert snap.a == -snap.b, f"a torn snapshot: {snap}"
        seen += 1
    writer.join(JOIN_TIMEOUT)
    assert writer.exitcode == 0
    assert (pair.a, pair.b) == (rounds, -rounds)
    with pytest.raises(shmstruct.FieldTypeError):
        shmstruct.update(pair, a=1, b="two")  # all or nothing
    assert (pair.a, pair.b) == (rounds, -rounds)
    store.delete(name)


def test_a_holder_paused_past_its_lease_cannot_write(ctx: BaseContext, store: Any, redis_url: str) -> None:
    name = key("r-lease")
    pair = store.create(Pair, name)
    holding, result = ctx.Event(), ctx.Queue()
    child = ctx.Process(target=child_hold_then_write, args=(redis_url, name, holding, result))
    child.start()
    try:
        assert holding.wait(JOIN_TIMEOUT)
        # The lease ends on the server; waiting for that is waiting for a fact, not for a time.
        assert wait_until(lambda: not store.client.exists(f"shmstruct:{{{name}}}:lock"))
        with pair.lock:
            pair.a = 1
            assert pair.lock.token is not None and pair.lock.token >= 2
    finally:
        os.kill(child.pid, signal.SIGCONT)
    outcome, message = result.get(timeout=JOIN_TIMEOUT)
    assert outcome == "refused" and name in message and "changed nothing" in message
    assert result.get(timeout=JOIN_TIMEOUT) == "release refused"
    child.join(JOIN_TIMEOUT)
    assert child.exitcode == 0
    assert pair.a == 1
    store.delete(name)


def test_a_waiter_takes_the_lock_when_it_is_released(store: Any, redis_url: str) -> None:
    name = key("r-wait")
    pair = store.create(Pair, name)
    with shmstruct.redis.connect(redis_url) as other:  # another client, as another host would be
        theirs = other.attach(Pair, name)
        taken = threading.Event()

        def waiter() -> None:
            with theirs.lock:
                theirs.b = theirs.a + 1
                taken.set()

        with pair.lock:
            thread = threading.Thread(target=waiter)
            thread.start()
            assert not theirs.lock.acquire(block=False)
            pair.a = 41
        assert taken.wait(JOIN_TIMEOUT)
        thread.join(JOIN_TIMEOUT)
    assert pair.b == 42
    store.delete(name)


def test_attach_refuses_another_schema_and_names_the_difference(store: Any) -> None:
    name = key("r-mismatch")
    store.create(Job, name)
    with pytest.raises(shmstruct.SchemaMismatchError, match=r"holds schema 'Job', not 'Pair'"):
        store.attach(Pair, name)
    with pytest.raises(shmstruct.SchemaMismatchError, match=r"different version of Job: .*field 'small'"):
        store.attach(JobV2, name)
    with pytest.raises(shmstruct.SharedMemoryGoneError, match="no struct is stored"):
        store.attach(Job, key("r-never"))
    store.client.set(f"shmstruct:{{{key('r-string')}}}", "hello")
    with pytest.raises(shmstruct.SegmentError):
        store.attach(Job, key("r-string"))
    with pytest.raises(shmstruct.SegmentExistsError, match="already holds"):
        store.create(Job, name)
    store.delete(name)
    store.client.delete(f"shmstruct:{{{key('r-string')}}}")


def test_a_deleted_or_replaced_struct_is_never_written(store: Any) -> None:
    name = key("r-gone")
    job = store.create(Job, name, steps=1)
    store.delete(name)
    with pytest.raises(shmstruct.SharedMemoryGoneError):
        job.steps = 2
    assert not store.exists(name)  # the write did not recreate a partial hash
    store.create(Pair, name)
    with pytest.raises(shmstruct.SchemaMismatchError, match="replaced"):
        job.steps = 2
    with pytest.raises(shmstruct.SchemaMismatchError, match="replaced"):
        job.hits.add(1)
    store.delete(name)


def test_a_damaged_entry_is_a_clear_error(store: Any) -> None:
    name = key("r-damaged")
    job = store.create(Job, name)
    store.client.hset(f"shmstruct:{{{name}}}", "small", "300")
    with pytest.raises(shmstruct.SegmentError, match=r"damaged.*'small' holds b'300'"):
        job.small
    with pytest.raises(shmstruct.SegmentError, match="damaged"):
        shmstruct.snapshot(job)
    store.delete(name)


def test_keys_are_checked(store: Any) -> None:
    for bad in ("", "a{b}", "x" * 201, "tab\there"):
        with pytest.raises(ValueError, match="not allowed"):
            store.create(Pair, bad)
    with pytest.raises(TypeError):
        store.create(Pair, 5)


def test_a_server_restart_gives_clear_errors_then_recovers(tmp_path: Any) -> None:
    server = RedisServer(tmp_path, durable=True)
    try:
        with shmstruct.redis.connect(server.url, socket_timeout=JOIN_TIMEOUT) as store:
            name = key("r-restart")
            job = store.create(Job, name, steps=5)
            server.stop()
            with pytest.raises(shmstruct.redis.StoreUnavailableError, match="cannot be reached"):
                job.steps = 6
            with pytest.raises(shmstruct.redis.StoreUnavailableError):
                shmstruct.snapshot(job)
            server.restart()
            assert job.steps == 5  # durable: the struct outlived the restart
            job.steps = 7
            assert store.attach(Job, name).steps == 7
    finally:
        server.stop()


def test_a_proxy_is_not_pickled(store: Any) -> None:
    import pickle

    name = key("r-pickle")
    job = store.create(Pair, name)
    with pytest.raises(TypeError, match="attach in the other process"):
        pickle.dumps(job)
    assert shmstruct.segment_name(job) == name
    shmstruct.close(job)  # nothing to release: idempotent
    store.delete(name)


def test_lock_acquire_options(store: Any) -> None:
    name = key("r-lock-options")
    pair = store.create(Pair, name)
    assert pair.lock.acquire(block=False)
    assert pair.lock.acquire(timeout=5)  # re-entrant for its thread
    pair.lock.release()
    assert pair.lock.token is not None
    pair.lock.release()
    assert pair.lock.token is None
    with pytest.raises(RuntimeError, match="does not hold it"):
        pair.lock.release()
    store.delete(name)


# --------------------------------------------------------------------------- logs


class Event(SharedStruct):
    worker: int = 0
    seq: int = 0
    note: str = text(8)


def child_append(url: str, name: str, worker: int, times: int, go: Any) -> None:
    with shmstruct.redis.connect(url) as store:
        log = store.attach_log(Event, name)
        go.wait(JOIN_TIMEOUT)
        for seq in range(times):
            log.append(worker=worker, seq=seq)


def test_appends_from_four_writers_with_a_concurrent_reader(ctx: BaseContext, store: Any, redis_url: str) -> None:
    name = key("r-log")
    workers, times = 4, 5_000
    log = store.create_log(Event, name, capacity=workers * times)
    go = ctx.Event()
    writers = [ctx.Process(target=child_append, args=(redis_url, name, w, times, go)) for w in range(workers)]
    for writer in writers:
        writer.start()
    go.set()
    seen = 0
    while seen < workers * times:
        assert log.wait(seen, timeout=JOIN_TIMEOUT)  # sleeps on the server until rows arrive
        rows = log.snapshot()
        assert len(rows) >= seen
        for w in range(workers):  # each writer's rows arrive in its order, without gaps
            seqs = rows["seq"][rows["worker"] == w]
            assert np.array_equal(seqs, np.arange(len(seqs)))
        seen = len(rows)
    for writer in writers:
        writer.join(JOIN_TIMEOUT)
        assert writer.exitcode == 0
    assert log.appended == len(log) == workers * times
    with pytest.raises(shmstruct.LogFullError, match="full: it holds its capacity of 20,000 rows"):
        log.append(worker=9)
    assert log.appended == workers * times
    store.delete(name)


def test_a_ring_log_keeps_the_newest_rows(store: Any) -> None:
    name = key("r-ring")
    log = store.create_log(Event, name, capacity=5, ring=True)
    for seq in range(12):
        assert log.append(seq=seq, note=f"n{seq}") == seq
    rows = log.snapshot()
    assert rows["seq"].tolist() == [7, 8, 9, 10, 11] and rows["note"].tolist() == [b"n7", b"n8", b"n9", b"n10", b"n11"]
    assert (log.appended, len(log), log.capacity, log.ring) == (12, 5, 5, True)
    assert [m.seq for m in log.models()] == [7, 8, 9, 10, 11]
    assert store.attach_log(Event, name).snapshot()["seq"].tolist() == [7, 8, 9, 10, 11]
    store.delete(name)


def test_a_log_refuses_bad_rows_and_wrong_keys(store: Any) -> None:
    name = key("r-log-bad")
    log = store.create_log(Event, name, capacity=3)
    before = command_count(store)
    with pytest.raises(shmstruct.FieldValueError, match="Event.note"):
        log.append(note="far too long")
    with pytest.raises(shmstruct.FieldTypeError, match="has no field 'nope'"):
        log.append(nope=1)
    assert command_count(store) == before + 1
    assert log.appended == 0 and not log.wait(0, timeout=0.01)
    with pytest.raises(shmstruct.SegmentError, match="holds a shmstruct log, not a struct"):
        store.attach(Event, name)
    with pytest.raises(shmstruct.SchemaMismatchError, match="holds schema 'Event', not 'Pair'"):
        store.attach_log(Pair, name)
    with pytest.raises(shmstruct.SegmentExistsError):
        store.create_log(Event, name, capacity=3)
    struct_name = key("r-log-struct")
    store.create(Pair, struct_name)
    with pytest.raises(shmstruct.SegmentError, match="holds a shmstruct struct, not a log"):
        store.attach_log(Pair, struct_name)
    with pytest.raises(ValueError, match="capacity"):
        store.create_log(Event, key("r-log-zero"), capacity=0)
    store.delete(name)
    with pytest.raises(shmstruct.SharedMemoryGoneError):
        log.append(seq=1)
    with pytest.raises(shmstruct.SharedMemoryGoneError):
        store.attach_log(Event, name)
    store.delete(struct_name)


def child_append_one(url: str, name: str) -> None:
    with shmstruct.redis.connect(url) as store:
        store.attach_log(Event, name).append(seq=42)


def test_wait_wakes_when_another_process_appends(ctx: BaseContext, store: Any, redis_url: str) -> None:
    name = key("r-log-wait")
    log = store.create_log(Event, name, capacity=10)
    child = ctx.Process(target=child_append_one, args=(redis_url, name))
    child.start()
    assert log.wait(0)  # no timeout: returns only because the append happened
    child.join(JOIN_TIMEOUT)
    assert child.exitcode == 0
    assert log.snapshot()["seq"].tolist() == [42]
    store.delete(name)


_inherited: list[Any] = []


def child_uses_the_inherited_store(done: Any) -> None:
    store, name = _inherited
    pair = store.attach(Pair, name)  # on connections of its own, not the parent's
    pair.a = 5
    done.put(pair.b)


def test_a_forked_child_uses_the_parents_store_safely(store: Any) -> None:
    import multiprocessing as mp

    name = key("r-fork")
    pair = store.create(Pair, name, b=7)
    assert pair.a == 0  # the parent's connection is open before the fork
    _inherited[:] = [store, name]
    ctx = mp.get_context("fork")
    done = ctx.Queue()
    child = ctx.Process(target=child_uses_the_inherited_store, args=(done,))
    child.start()
    assert done.get(timeout=JOIN_TIMEOUT) == 7
    child.join(JOIN_TIMEOUT)
    assert child.exitcode == 0
    for _ in range(100):  # the parent's connection was not disturbed by the child's use
        assert (pair.a, pair.b) == (5, 7)
    _inherited.clear()
    store.delete(name)


# --------------------------------------------------------------------------- tables


class Task(SharedStruct):
    owner: int = -1
    done: int = 0
    state: str = text(8)
    weights: NDArray[np.float32] = array(2)
    where: Point = nested()


def child_works_rows(url: str, name: str, worker: int, workers: int) -> None:
    with shmstruct.redis.connect(url) as store:
        tasks = store.attach_table(Task, name)
        for index in range(worker, len(tasks), workers):
            shmstruct.update(tasks[index], owner=worker, done=index * 10, state=f"w{worker}")
            tasks[index].where = {"x": float(index), "y": 0.5}


def test_a_table_shared_by_processes(ctx: BaseContext, store: Any, redis_url: str) -> None:
    name = key("r-table")
    tasks = store.create_table(Task, name, rows=12)
    assert len(tasks) == 12 and tasks[5].owner == -1 and tasks[5].state == ""
    workers = [ctx.Process(target=child_works_rows, args=(redis_url, name, w, 3)) for w in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(JOIN_TIMEOUT)
        assert worker.exitcode == 0
    rows = tasks.snapshot()
    assert rows["owner"].tolist() == [i % 3 for i in range(12)]
    assert rows["done"].tolist() == [i * 10 for i in range(12)]
    assert rows["state"].tolist() == [f"w{i % 3}".encode() for i in range(12)]
    assert rows["where"]["x"].tolist() == [float(i) for i in range(12)]
    assert np.array_equal(tasks.column("done"), np.arange(12) * 10)
    assert shmstruct.snapshot(tasks[7]).where.x == 7.0 and tasks[7].where.y == 0.5
    tasks.write_column("weights", [[i, -i] for i in range(12)])
    assert tasks.column("weights")[3].tolist() == [3.0, -3.0]
    assert [m.owner for m in tasks.models()] == [i % 3 for i in range(12)]
    store.delete(name)
    assert not store.client.keys(f"*{{{name}}}*")  # every column went with it


def test_a_table_refuses_bad_values_and_wrong_keys(store: Any) -> None:
    name = key("r-table-bad")
    tasks = store.create_table(Task, name, rows=3)
    before = command_count(store)
    with pytest.raises(shmstruct.FieldTypeError, match="Task.done"):
        tasks[0].done = "x"
    with pytest.raises(shmstruct.FieldValueError, match="Task.state"):
        shmstruct.update(tasks[1], done=1, state="far too long")
    with pytest.raises(shmstruct.FieldValueError, match="Task.done"):
        tasks.write_column("done", [1, 2, 2**70])
    with pytest.raises(shmstruct.FieldTypeError, match="one per row"):
        tasks.write_column("done", [1, 2])
    with pytest.raises(IndexError):
        tasks[3]
    assert command_count(store) == before + 1
    assert tasks.column("done").tolist() == [0, 0, 0]
    with pytest.raises(shmstruct.SegmentError, match="holds a shmstruct table, not a struct"):
        store.attach(Task, name)
    with pytest.raises(shmstruct.SchemaMismatchError, match="holds schema 'Task', not 'Pair'"):
        store.attach_table(Pair, name)
    with pytest.raises(shmstruct.SegmentExistsError):
        store.create_table(Task, name, rows=3)
    store.delete(name)
    with pytest.raises(shmstruct.SharedMemoryGoneError):
        tasks[0].done = 1
    assert not store.client.keys(f"*{{{name}}}*")  # the refused write recreated nothing


def test_table_writes_under_an_expired_lease_are_refused(store: Any, redis_url: str) -> None:
    name = key("r-table-lease")
    tasks = store.create_table(Task, name, rows=2)
    with shmstruct.redis.connect(redis_url, lease=0.2) as short:
        theirs = short.attach_table(Task, name)
        lock = theirs.lock
        lock.acquire()
        assert wait_until(lambda: not store.client.exists(f"shmstruct:{{{name}}}:lock"))
        with pytest.raises(shmstruct.redis.LeaseExpiredError):
            theirs[0].done = 5
        with pytest.raises(shmstruct.redis.LeaseExpiredError):
            lock.release()
    assert tasks[0].done == 0
    store.delete(name)


def child_adds_once(url: str, name: str) -> None:
    with shmstruct.redis.connect(url) as store:
        store.attach(Counter, name).hits.add(3)


def test_atomic_wait_wakes_when_another_process_changes_the_value(ctx: BaseContext, store: Any, redis_url: str) -> None:
    name = key("r-atomic-wait")
    counter = store.create(Counter, name)
    assert not counter.hits.wait(0, timeout=0.01)
    child = ctx.Process(target=child_adds_once, args=(redis_url, name))
    child.start()
    assert counter.hits.wait(0)  # no timeout: returns only because the value changed
    assert counter.hits.load() == 3
    child.join(JOIN_TIMEOUT)
    assert child.exitcode == 0
    assert counter.hits.wait(0, timeout=0)  # differs already: at once
    store.delete(name)


# --------------------------------------------------------------------------- hostile data


@pytest.fixture(scope="module")
def fuzzed(redis_url: str) -> Any:
    """One struct whose hash entries the fuzz test overwrites with anything."""
    with shmstruct.redis.connect(redis_url) as connected:
        name = key("r-fuzz")
        job = connected.create(Job, name)
        yield connected, name, job
        connected.delete(name)


_ENTRIES = [
    "steps",
    "small",
    "big",
    "ok",
    "half",
    "ratio",
    "code",
    "label",
    "hits",
    "count32",
    "grid",
    "flags",
    "where.x",
]


@given(
    entry=st.sampled_from(_ENTRIES), raw=st.binary(max_size=80) | st.sampled_from([b"nan", b"-0", b"1e999", b"0x10"])
)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_bytes_in_an_entry_are_a_value_or_a_clear_error(fuzzed: Any, entry: str, raw: bytes) -> None:
    store, name, job = fuzzed
    hash_key = f"shmstruct:{{{name}}}"
    good = store.client.hget(hash_key, entry)
    store.client.hset(hash_key, entry, raw)
    try:
        snap = shmstruct.snapshot(job)
    except shmstruct.SegmentError as exc:
        assert "damaged" in str(exc) and repr(entry) in str(exc)
    else:  # accepted: a value the field holds, which a checked write takes back
        field = entry.split(".")[0]
        shmstruct.update(job, **{field: getattr(snap, field)})
    finally:
        store.client.hset(hash_key, entry, good)


# --------------------------------------------------------------------------- found by an attack on the store


def test_waits_outlast_the_connections_read_timeout(store: Any, redis_url: str) -> None:
    name = key("r-long-wait")
    log = store.create_log(Event, name, capacity=3)
    with shmstruct.redis.connect(redis_url, socket_timeout=1.0) as impatient:
        theirs = impatient.attach_log(Event, name)
        assert not theirs.wait(0, timeout=1.5)  # longer than the read timeout: no error
        counter = impatient.create(Counter, key("r-long-wait-c"))
        assert not counter.hits.wait(0, timeout=1.5)
        impatient.delete(key("r-long-wait-c"))
    log.append(seq=1)
    store.delete(name)


def test_threads_do_not_keep_connections(store: Any) -> None:
    name = key("r-threads")
    pair = store.create(Pair, name, a=1)
    seen = []
    for _ in range(150):  # more than redis-py's pool holds at once
        thread = threading.Thread(target=lambda: seen.append(pair.a))
        thread.start()
        thread.join(JOIN_TIMEOUT)
    assert seen == [1] * 150
    store.delete(name)


def test_a_forked_child_does_not_hold_its_parents_lock(store: Any) -> None:
    import multiprocessing as mp

    name = key("r-fork-lock")
    pair = store.create(Pair, name)
    _inherited[:] = [store, name]
    ctx = mp.get_context("fork")
    done = ctx.Queue()
    with pair.lock:
        child = ctx.Process(target=child_tries_the_lock, args=(done,))
        child.start()
        assert done.get(timeout=JOIN_TIMEOUT) == (False, None)
        child.join(JOIN_TIMEOUT)
    assert child.exitcode == 0
    _inherited.clear()
    store.delete(name)


def child_tries_the_lock(done: Any) -> None:
    store, name = _inherited
    lock = store.attach(Pair, name).lock
    done.put((lock.acquire(block=False), lock.token))


def test_every_kind_counts_as_existing_and_is_never_overwritten(store: Any) -> None:
    table, log = key("r-exists-t"), key("r-exists-l")
    store.create_table(Pair, table, rows=2)
    store.create_log(Pair, log, capacity=2)
    assert store.exists(table) and store.exists(log)
    for name in (table, log):
        with pytest.raises(shmstruct.SegmentExistsError):
            store.create(Pair, name)
        with pytest.raises(shmstruct.SegmentExistsError):
            store.create_table(Pair, name, rows=2)
    struct = key("r-exists-s")
    store.create(Pair, struct)
    with pytest.raises(shmstruct.SegmentExistsError):
        store.create_table(Pair, struct, rows=2)
    for name in (table, log, struct):
        store.delete(name)
        assert not store.exists(name)


def test_a_deleted_or_replaced_log_is_never_read_as_rows(store: Any) -> None:
    name = key("r-log-gone")
    log = store.create_log(Event, name, capacity=3)
    log.append(seq=1)
    store.delete(name)
    with pytest.raises(shmstruct.SharedMemoryGoneError):
        log.snapshot()
    store.create_log(Pair, name, capacity=3).append(a=1)
    with pytest.raises(shmstruct.SchemaMismatchError):
        log.snapshot()
    store.delete(name)


class Unicode(SharedStruct):
    zähler: Atomic[int] = atomic()


def test_atomic_operations_take_any_field_name_and_any_integer(store: Any) -> None:
    name = key("r-unicode")
    counter = store.create(Unicode, name)
    assert counter.zähler.add(np.int64(2)) == 0 and counter.zähler.sub(1) == 2
    assert counter.zähler.compare_exchange(np.int32(1), 5) and counter.zähler.exchange(6) == 5
    with pytest.raises(shmstruct.FieldTypeError):
        counter.zähler.add(1.5)
    store.delete(name)


def test_foreign_types_in_our_keys_are_clear_errors(store: Any) -> None:
    name = key("r-foreign")
    store.client.set(f"shmstruct:{{{name}}}:meta", "junk")
    with pytest.raises(shmstruct.SegmentError):
        store.attach(Pair, name)
    store.delete(name)
    assert not store.exists(name)


def test_module_functions_take_redis_tables_and_logs_and_tokens_grow(store: Any) -> None:
    table, log = key("r-funcs-t"), key("r-funcs-l")
    rows = store.create_table(Pair, table, rows=2)
    events = store.create_log(Pair, log, capacity=2)
    events.append(a=3)
    assert shmstruct.snapshot(rows)["a"].tolist() == [0, 0] and shmstruct.snapshot(events)["a"].tolist() == [3]
    assert shmstruct.segment_name(rows) == table and shmstruct.segment_name(events) == log
    shmstruct.close(rows)
    shmstruct.close(events)
    import pickle

    with pytest.raises(TypeError, match="attach in the other process"):
        pickle.dumps(events)
    with events.lock:
        first = events.lock.token
    store.delete(log)
    again = store.create_log(Pair, log, capacity=2)
    with again.lock:
        assert again.lock.token is not None and first is not None and again.lock.token > first
    store.delete(table)
    store.delete(log)


def test_deleting_what_the_lock_guards_while_holding_it_says_so(store: Any) -> None:
    name = key("r-delete-held")
    pair = store.create(Pair, name)
    with pytest.raises(shmstruct.SharedMemoryGoneError, match="deleted while its lock was held"), pair.lock:
        store.delete(name)
    assert pair.lock.token is None  # released here all the same


def test_a_wait_on_a_log_deleted_meanwhile_ends_with_an_error(store: Any, redis_url: str) -> None:
    name = key("r-wait-deleted")
    log = store.create_log(Event, name, capacity=2)
    with shmstruct.redis.connect(redis_url) as other:
        deleter = threading.Thread(target=other.delete, args=(name,))
        deleter.start()
        with pytest.raises(shmstruct.SharedMemoryGoneError):
            log.wait(0)  # no timeout: it ends only because it sees the log is gone
        deleter.join(JOIN_TIMEOUT)


# --------------------------------------------------------------------------- table rows in full


class Gauge(SharedStruct):
    level: int = 0
    hits: Atomic[int] = atomic()


class Cells(SharedStruct):
    i32: Atomic[shmstruct.int32] = atomic()
    u32: Atomic[shmstruct.uint32] = atomic()
    i64: Atomic[int] = atomic()
    u64: Atomic[shmstruct.uint64] = atomic()
    gauge: Gauge = nested()


def child_adds_to_cells(url: str, name: str, times: int, ready: Any, go: Any) -> None:
    with shmstruct.redis.connect(url) as store:
        cells = store.attach_table(Cells, name)
        ready.wait(JOIN_TIMEOUT)
        go.wait(JOIN_TIMEOUT)
        for n in range(times):
            row = cells[n % 2]
            row.i32.add(1)
            row.u64.add(2)
            row.gauge.hits.sub(1)


def test_atomic_adds_to_table_cells_from_four_processes_are_exact(ctx: BaseContext, store: Any, redis_url: str) -> None:
    name = key("r-cells")
    cells = store.create_table(Cells, name, rows=3)
    cells[2].i32 = 77  # a neighbour that must stay untouched
    ready, go = ctx.Barrier(5), ctx.Event()
    children = [ctx.Process(target=child_adds_to_cells, args=(redis_url, name, 1000, ready, go)) for _ in range(4)]
    for child in children:
        child.start()
    ready.wait(JOIN_TIMEOUT)
    go.set()
    for child in children:
        child.join(JOIN_TIMEOUT)
        assert child.exitcode == 0
    rows = cells.snapshot()
    assert rows["i32"].tolist() == [2000, 2000, 77]
    assert rows["u64"].tolist() == [4000, 4000, 0]
    assert rows["gauge"]["hits"].tolist() == [-2000, -2000, 0]
    assert rows["u32"].tolist() == [0, 0, 0] and rows["i64"].tolist() == [0, 0, 0]
    store.delete(name)


_CELL_RANGES = {
    "i32": (-(2**31), 2**31 - 1),
    "u32": (0, 2**32 - 1),
    "i64": (-(2**63), 2**63 - 1),
    "u64": (0, 2**64 - 1),
}


@pytest.fixture(scope="module")
def cell_table(redis_url: str) -> Any:
    with shmstruct.redis.connect(redis_url) as connected:
        name = key("r-cell-model")
        yield connected.create_table(Cells, name, rows=2)
        connected.delete(name)


@given(
    field=st.sampled_from(sorted(_CELL_RANGES)),
    operations=st.lists(
        st.tuples(
            st.sampled_from(["add", "sub", "exchange", "compare_exchange", "store"]),
            st.one_of(
                st.integers(-(2**65), 2**65),
                st.sampled_from([0, 1, -1, 2**31, -(2**31), 2**32 - 1, 2**63, -(2**63), 2**64 - 1, -(2**64)]),
            ),
        ),
        max_size=12,
    ),
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_atomic_cells_behave_exactly_like_the_c_type(cell_table: Any, field: str, operations: Any) -> None:
    """Every operation on a table's atomic cell against a model of the C type: the same results,
    and a refused one (out of range) changes nothing. The script adds in 32-bit words, so the
    edges of each width are where it could go wrong."""
    low, high = _CELL_RANGES[field]
    cell = getattr(cell_table[1], field)
    cell.store(0)
    model = 0
    for operation, number in operations:
        fits = low <= number <= high
        if operation in ("add", "sub"):
            result = model + number if operation == "add" else model - number
            if low <= result <= high:
                assert getattr(cell, operation)(number) == model
                model = result
            else:
                with pytest.raises(shmstruct.FieldValueError, match=f"Cells.{field}"):
                    getattr(cell, operation)(number)
        elif operation == "compare_exchange":
            assert cell.compare_exchange(model if number % 2 else number, 5) == (number % 2 == 1 or number == model)
            if number % 2 or number == model:
                model = 5
        elif fits:
            assert (cell.exchange(number) if operation == "exchange" else cell.store(number)) in (model, None)
            model = number
        else:
            with pytest.raises(shmstruct.FieldValueError):
                getattr(cell, operation)(number)
        assert cell.load() == model
    assert cell_table[0].i64.load() == 0  # the other row never moved


class Bench(SharedStruct):
    """A schema with its own methods and properties, which proxies must keep."""

    LIMIT = 10
    count: int = 0
    where: Point = nested()

    def doubled(self) -> int:
        return self.count * 2

    @property
    def half(self) -> float:
        return self.count / 2

    @half.setter
    def half(self, value: float) -> None:
        self.count = int(value * 2)

    @staticmethod
    def unit() -> str:
        return "steps"

    @classmethod
    def made_by(cls) -> str:
        return cls.__name__


def test_table_views_numpy_indexes_and_nested_rows(store: Any) -> None:
    name = key("r-views")
    benches = store.create_table(Bench, name, rows=6)
    benches[np.int64(1)].count = 5
    view = benches[1:4]
    assert len(view) == 3 and view[0].count == 5 and view[-1] is not None
    view.write_column("count", [10, 11, 12])
    assert benches.column("count").tolist() == [0, 10, 11, 12, 0, 0]
    assert view.snapshot()["count"].tolist() == [10, 11, 12] and view[1:].column("count").tolist() == [11, 12]
    assert len(benches[4:2]) == 0 and benches[4:2].snapshot().shape == (0,)
    with pytest.raises(ValueError, match="contiguous"):
        benches[::2]
    with pytest.raises(TypeError, match="ints or slices"):
        benches[1.0]
    with pytest.raises(IndexError):
        view[3]
    benches[2].where.x = 2.5  # a nested struct of a row is written in place
    shmstruct.update(benches[2].where, y=-1.0)
    assert benches[2].where.x == 2.5 and shmstruct.snapshot(benches[2]).where.y == -1.0
    assert benches.snapshot()["where"]["x"].tolist() == [0, 0, 2.5, 0, 0, 0]
    assert benches[2].count == 11 and benches[3].where.x == 0  # neighbours untouched
    with pytest.raises(shmstruct.FieldTypeError, match="Point has no field 'z'"):
        benches[2].where.z = 1
    with benches[0] as row:
        assert row.count == 0
    store.delete(name)


def test_proxies_keep_the_schemas_methods_and_properties(store: Any) -> None:
    struct_name, table_name = key("r-methods-s"), key("r-methods-t")
    bench = store.create(Bench, struct_name, count=4)
    row = store.create_table(Bench, table_name, rows=2)[1]
    for proxy in (bench, row):
        proxy.count = 4
        assert proxy.doubled() == 8 and proxy.half == 2.0
        proxy.half = 3.5
        assert proxy.count == 7
        assert proxy.LIMIT == 10 and proxy.unit() == "steps" and proxy.made_by() == "Bench"
        with pytest.raises(shmstruct.FieldTypeError, match="no field 'LIMITS'"):
            proxy.LIMITS = 3
    store.delete(struct_name)
    store.delete(table_name)


def test_nans_keep_their_sign_and_payload(store: Any) -> None:
    import struct

    class Floats(SharedStruct):
        d: float = 0.0
        f: shmstruct.float32 = 0.0
        h: shmstruct.float16 = 0.0

    def bits(value: float) -> int:
        number: int = struct.unpack("<Q", struct.pack("<d", value))[0]
        return number

    name = key("r-nan")
    remote, local = store.create(Floats, name), Floats()
    for pattern in (0x7FF8000000000000, 0xFFF8000000000000, 0x7FF8000000000123, 0xFFF0000000000001):
        nan = struct.unpack("<d", struct.pack("<Q", pattern))[0]
        for field in ("d", "f", "h"):
            setattr(remote, field, nan)
            setattr(local, field, nan)
            assert bits(getattr(remote, field)) == bits(getattr(local, field)), (hex(pattern), field)
        assert bits(shmstruct.snapshot(remote).d) == pattern
    assert store.client.hget(f"shmstruct:{{{name}}}", "d") == b"nan:fff0000000000001"
    remote.d = float("nan")
    assert store.client.hget(f"shmstruct:{{{name}}}", "d") == b"nan"  # the usual NaN reads as plain text
    store.client.hset(f"shmstruct:{{{name}}}", "d", "nan:123")  # a payload that is not a NaN
    with pytest.raises(shmstruct.SegmentError, match="field 'd'"):
        remote.d
    store.delete(name)
    local.close() if hasattr(local, "close") else None


def test_data_redis_cannot_hold_is_refused_before_sending(store: Any) -> None:
    class Huge(SharedStruct):
        cube: NDArray[np.float64] = array((520, 512, 256))  # 545 MB: more than a Redis string holds

    before = command_count(store)
    with pytest.raises(shmstruct.SchemaError, match="Huge is 545,259,520 bytes"):
        store.create(Huge, key("r-huge"))
    with pytest.raises(shmstruct.SchemaError, match="shared memory"):
        store.create_log(Huge, key("r-huge-log"), capacity=2)
    with pytest.raises(ValueError, match="at most 536,870,912 bytes"):
        store.create_table(Pair, key("r-huge-table"), rows=40_000_000)
    assert command_count(store) == before + 1


def test_a_server_out_of_memory_refuses_cleanly(tmp_path: Any) -> None:
    server = RedisServer(tmp_path)
    try:
        with shmstruct.redis.connect(server.url) as store:
            store.client.config_set("maxmemory", "4mb")
            table = store.create_table(Pair, key("r-oom"), rows=4)
            table[0].a = 1
            filled = []
            with pytest.raises(shmstruct.SharedMemoryFullError, match="out of memory") as raised:
                for number in range(1000):
                    filled.append(store.create_table(Pair, key(f"r-oom-{number}"), rows=50_000))
            assert raised.value.errno == 28 and filled
            store.client.config_set("maxmemory", "1mb")  # far below what it holds: every write is refused
            with pytest.raises(shmstruct.SharedMemoryFullError):
                shmstruct.update(table[0], a=2, b=3)
            assert table[0].a == 1 and table[0].b == 0  # the refused write changed nothing
            store.client.config_set("maxmemory", "0")
            table[0].a = 2
            assert table[0].a == 2
    finally:
        server.stop()


def child_sets_then_notifies(url: str, name: str, waiting: Any) -> None:
    with shmstruct.redis.connect(url) as store:
        pair = store.attach(Pair, name)
        waiting.wait(JOIN_TIMEOUT)
        with pair.lock:  # taken once the parent's wait released it
            pair.a = 1
            pair.lock.notify()


def child_appends(url: str, name: str, count: int) -> None:
    with shmstruct.redis.connect(url) as store:
        log = store.attach_log(Event, name)
        with log.lock:  # taken once the parent's wait released it: the parent listens by then
            for number in range(count):
                log.append(worker=1, seq=number)


def test_the_lock_is_a_condition_across_processes(ctx: BaseContext, store: Any, redis_url: str) -> None:
    name, log_name = key("r-cond"), key("r-cond-log")
    pair = store.create(Pair, name)
    waiting = ctx.Event()
    child = ctx.Process(target=child_sets_then_notifies, args=(redis_url, name, waiting))
    child.start()
    with pair.lock, pair.lock:  # taken twice: wait releases both levels and takes both back
        assert pair.lock.held_by_me() and not pair.lock.wait(timeout=0.01)
        waiting.set()
        assert pair.lock.wait(timeout=JOIN_TIMEOUT)  # true: woken by the child's notify, not the timeout
        assert pair.a == 1 and pair.lock.wait_for(lambda: pair.a == 1, timeout=0)
        assert pair.lock.held_by_me() and pair.lock.token is not None
    assert not pair.lock.held_by_me() and pair.a == 1
    child.join(JOIN_TIMEOUT)
    assert child.exitcode == 0
    with pytest.raises(RuntimeError, match="does not hold"):
        pair.lock.wait(0)
    with pytest.raises(RuntimeError, match="does not hold"):
        pair.lock.notify_all()
    assert pair.lock.holder is None and pair.lock.recoveries == 0 and pair.lock.dead_holder is None
    log = store.create_log(Event, log_name, capacity=10)
    appender = ctx.Process(target=child_appends, args=(redis_url, log_name, 4))
    with log.lock:
        appender.start()
        assert log.lock.wait(timeout=JOIN_TIMEOUT)  # woken by an append, as in shared memory
        assert log.lock.wait_for(
            lambda: len(log) == 4, timeout=JOIN_TIMEOUT
        )  # appends wake the log's lock, as in shared memory
    appender.join(JOIN_TIMEOUT)
    assert appender.exitcode == 0
    store.delete(name)
    store.delete(log_name)


# --------------------------------------------------------------------------- found by an attack on the store


class Tricky(SharedStruct):
    """Field and method names a proxy might use itself."""

    span: int = 0
    record: int = 0
    inner: Point = nested()

    def lock(self) -> str:  # the user's lock wins, as on the struct
        return "mine"


class Once:
    """A descriptor that allows one owner, as some libraries' do."""

    owners: ClassVar[list[str]] = []

    def __set_name__(self, owner: type, name: str) -> None:
        Once.owners.append(owner.__name__)
        if len(Once.owners) > 1:
            raise RuntimeError("one owner only")

    def __get__(self, obj: Any, owner: Any = None) -> str:
        return "once"


class Mixin:
    def total(self) -> float:
        return float(self.x + self.y)  # type: ignore[attr-defined]


class Mixed(Mixin, SharedStruct):
    x: float = 0.0
    y: float = 0.0
    marker = Once()

    @functools.cached_property
    def cached(self) -> float:
        return self.x


def test_schema_names_never_break_a_proxy(store: Any) -> None:
    struct_name, table_name = key("r-tricky-s"), key("r-tricky-t")
    tricky = store.create(Tricky, struct_name)
    rows = store.create_table(Tricky, table_name, rows=2)
    for proxy in (tricky, rows[1]):
        proxy.span, proxy.record = 3, 4
        proxy.inner = {"x": 2.5}
        assert (proxy.span, proxy.record, proxy.inner.x, proxy.lock()) == (3, 4, 2.5, "mine")
        with pytest.raises(AttributeError, match="cannot delete"):
            del proxy.span
    rows[0].inner = rows[1].inner  # a proxy of the nested schema is a value of it, as in shared memory
    tricky.inner = rows[0].inner
    assert rows[0].inner.x == 2.5 == tricky.inner.x
    mixed = store.create(Mixed, key("r-mixed"), x=1.0, y=2.0)
    assert mixed.total() == 3.0 and mixed.marker == "once" and mixed.cached == 1.0 and Once.owners == ["Mixed"]

    class Clash(SharedStruct):
        x: int = 0

        def _target(self) -> None: ...

    with pytest.raises(shmstruct.SchemaError, match="Clash._target: the Redis proxy"):
        store.create(Clash, key("r-clash"))
    for name in (struct_name, table_name, key("r-mixed")):
        store.delete(name)
    assert not store.exists(key("r-clash"))


def test_a_stale_table_or_log_proxy_never_touches_what_replaced_it(store: Any) -> None:
    name = key("r-stale")
    old = store.create_table(Pair, name, rows=1000)
    store.delete(name)
    store.create_table(Pair, name, rows=2)
    with pytest.raises(shmstruct.SchemaMismatchError, match="not the table this proxy was attached to"):
        old[999].a = 1
    assert store.client.strlen(f"shmstruct:{{{name}}}:col:a") == 16  # not grown to 1000 rows
    store.delete(name)
    log = store.create_log(Pair, name, capacity=4)
    with pytest.raises(shmstruct.SchemaMismatchError, match="holds a log"):
        old[0].a = 1
    store.delete(name)
    table = store.create_table(Pair, name, rows=4)
    for read in (lambda: len(log), lambda: log.snapshot(), lambda: log.append(a=1), lambda: log.wait(0, 0)):
        with pytest.raises(shmstruct.SchemaMismatchError, match="holds a table"):
            read()
    assert table.column("a").tolist() == [0, 0, 0, 0]
    store.delete(name)
    assert not store.client.keys(f"*{{{name}}}*")


def test_damaged_columns_and_entries_are_refused_and_never_rebuilt(store: Any) -> None:
    name, struct_name = key("r-damaged"), key("r-damaged-s")
    table = store.create_table(Cells, name, rows=4)
    store.client.delete(f"shmstruct:{{{name}}}:col:i64")
    store.client.set(f"shmstruct:{{{name}}}:col:i32", b"\0" * 8)  # two rows of four
    for write in (lambda: setattr(table[3], "i64", 1), lambda: table[3].i32.store(1), lambda: table[3].i32.add(1)):
        with pytest.raises(shmstruct.SegmentError, match="damaged by another program"):
            write()
    with pytest.raises(shmstruct.SegmentError, match="damaged"):
        table.write_column("i64", [1, 2, 3, 4])
    assert not store.client.exists(f"shmstruct:{{{name}}}:col:i64")  # never recreated
    store.client.delete(f"shmstruct:{{{name}}}:col:u32")
    store.client.rpush(f"shmstruct:{{{name}}}:col:u32", "x")
    with pytest.raises(shmstruct.SegmentError, match="holds another Redis type"):
        table[0].u32.load()
    store.delete(name)
    job = store.create(Job, struct_name)
    for raw in (b"abc", b"1.5", b"", b"99999999999"):
        store.client.hset(f"shmstruct:{{{struct_name}}}", "count32", raw)
        for operation in (lambda: job.count32.exchange(1), lambda: job.count32.compare_exchange(0, 1)):
            with pytest.raises(shmstruct.SegmentError, match="field 'count32'"):
                operation()
        with pytest.raises(shmstruct.SegmentError, match="field 'count32'"):
            job.count32.add(1)
        assert store.client.hget(f"shmstruct:{{{struct_name}}}", "count32") == raw  # refused: unchanged
    with pytest.raises(shmstruct.FieldTypeError):
        job.hits.compare_exchange(True, 1)
    store.delete(struct_name)


def test_an_out_of_memory_server_refuses_atomic_adds_as_such(tmp_path: Any) -> None:
    server = RedisServer(tmp_path)
    try:
        with shmstruct.redis.connect(server.url) as store:
            counter = store.create(Counter, key("r-oom-add"))
            store.client.config_set("maxmemory", "1")
            with pytest.raises(shmstruct.SharedMemoryFullError):
                counter.hits.add(1)
            store.client.config_set("maxmemory", "0")
            assert counter.hits.load() == 0
    finally:
        server.stop()


def test_logs_are_limited_as_tables_are(store: Any) -> None:
    with pytest.raises(ValueError, match="at most 536,870,912 bytes"):
        store.create_log(Pair, key("r-big-log"), capacity=40_000_000)
    assert not store.exists(key("r-big-log"))


def test_the_lock_of_something_deleted_says_so(store: Any, redis_url: str) -> None:
    name = key("r-lock-gone")
    pair = store.create(Pair, name)
    store.delete(name)
    with pytest.raises(shmstruct.SharedMemoryGoneError, match="deleted"):
        pair.lock.acquire()
    pair = store.create(Pair, name)
    with shmstruct.redis.connect(redis_url) as other, pytest.raises(shmstruct.SharedMemoryGoneError), pair.lock:
        deleter = threading.Timer(0.2, other.delete, args=(name,))
        deleter.start()
        pair.lock.wait()  # no timeout: it ends only because the struct is gone
    deleter.join(JOIN_TIMEOUT)
    assert not pair.lock.held_by_me()
    assert not store.client.keys(f"*{{{name}}}*")  # nothing left behind, not even the fencing counter
    for bad in (-5, float("nan")):
        with pytest.raises(ValueError, match="timeout must be"):
            pair.lock.acquire(timeout=bad)
    with pytest.raises(TypeError, match="timeout must be a number"):
        pair.lock.acquire(timeout="soon")


def test_damaged_or_remade_logs_and_descriptions_are_clear_errors(store: Any) -> None:
    name, other = key("r-log-meta"), key("r-desc")
    log = store.create_log(Pair, name, capacity=5, ring=True)
    log.append(a=1)
    for junk in (b"abc", b"-7", b"1.5"):
        store.client.hset(f"shmstruct:{{{name}}}:meta", "appended", junk)
        for operation in (lambda: len(log), lambda: log.append(a=2), lambda: log.wait(0, 0)):
            with pytest.raises(shmstruct.SegmentError, match="count of appends"):
                operation()
    assert store.client.xlen(f"shmstruct:{{{name}}}") == 1  # no refused append added a row
    store.delete(name)
    store.create_log(Pair, name, capacity=2)
    with pytest.raises(shmstruct.SchemaMismatchError, match="not the log this proxy was attached to"):
        log.append(a=3)
    store.delete(name)
    store.create(Pair, other)
    store.client.hset(
        f"shmstruct:{{{other}}}", mapping={"_fingerprint": "0" * 64, "_schema": '{"schema": "Pair", "fields": 5}'}
    )
    with pytest.raises(shmstruct.SchemaMismatchError, match="description is damaged"):
        store.attach(Pair, other)
    store.delete(other)
