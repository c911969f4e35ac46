"""Type-checked with mypy --strict (and pyright) by tests/test_typing.py: positive lines use assert_type;
each line that must fail carries `# type: ignore[code]`, and warn_unused_ignores makes an
expected error that mypy does not report a failure."""

from __future__ import annotations

import ctypes
from typing import Annotated, Any

import numpy as np
from numpy.typing import NDArray
from pydantic import Field
from typing_extensions import assert_type

import shmstruct
import shmstruct.redis
from shmstruct import SharedLock, SharedStruct, array, nested, text


class Vec3(SharedStruct):
    x: float = 0.0
    y: float = 0.0
    z: float = 0.0


class State(SharedStruct):
    steps: int = 0
    level: shmstruct.int8 = 0
    legacy: Annotated[int, ctypes.c_int] = 0
    code: Annotated[int, "I"] = 0
    running: bool = True
    temperature: float = 20.0
    label: str = text(16)
    grid: NDArray[np.float64] = array((4, 3))
    origin: Vec3 = nested()
    budget: Annotated[int, Field(ge=0, le=100)] = 50


class Required(SharedStruct):
    x: int


class Hits(SharedStruct):
    total: shmstruct.Atomic[int] = shmstruct.atomic()
    small: shmstruct.Atomic[shmstruct.uint32] = shmstruct.atomic(3)
    label: str = text(8)


# Construction: keywords are typed; specifiers count as defaults.
s = State()
s = State(steps=1, label="warm-up", origin=Vec3(x=1.0))
r = Required(x=1)

# Reads are typed.
assert_type(s.steps, int)
assert_type(s.level, int)
assert_type(s.legacy, int)
assert_type(s.running, bool)
assert_type(s.temperature, float)
assert_type(s.label, str)
assert_type(s.grid, NDArray[np.float64])
assert_type(s.origin, Vec3)
assert_type(s.origin.x, float)
assert_type(s.lock, SharedLock)
assert_type(s.lock.acquire(timeout=1.0), bool)
assert_type(shmstruct.layout(State), shmstruct.Layout)
assert_type(shmstruct.fields(State), tuple[shmstruct.Field, ...])

# Writes of the right type.
with s.lock:
    s.steps += 1
s.temperature = 3  # int is acceptable where float is declared
s.grid[:, 0] = 1.0
s.grid = np.zeros((4, 3))
shmstruct.update(s, steps=2, running=False)
snap = shmstruct.snapshot(s)

# Tables and logs are generic in their schema; a log's append takes the schema's keywords.
rows = shmstruct.table(State, 3)
assert_type(rows, shmstruct.Table[State])
assert_type(rows[0], State)
assert_type(rows[0].origin.x, float)
assert_type(rows[0:2], shmstruct.Table[State])
assert_type(rows.records, NDArray[np.void])
assert_type(rows.column("steps"), NDArray[Any])
assert_type(rows.snapshot(), NDArray[np.void])
for row in rows:
    assert_type(row, State)
log = shmstruct.log(State, 10, ring=True)
assert_type(log[0], State)
assert_type(log.append(steps=1, label="x", grid=np.zeros((4, 3))), int)
assert_type(log.capacity, int)
required_log = shmstruct.log(Required, 4)
required_log.append(x=3)


def add_row(entries: shmstruct.Log[State]) -> int:
    """A log annotated by its schema alone accepts any keywords (mypy cannot check them there)."""
    return entries.append(steps=2)


add_row(log)

# Names, attaching, options and closing.
assert_type(shmstruct.segment_name(s), str)
assert_type(shmstruct.attach(State, shmstruct.segment_name(s)), State)
assert_type(shmstruct.options(State, name="typed-state", keep=False, mode=0o600)(steps=3), State)
assert_type(shmstruct.Table.attach(rows.name, State), shmstruct.Table[State])
assert_type(shmstruct.Log.attach(log.name, State)[0], State)
assert_type(shmstruct.snapshot(rows), NDArray[np.void])
with State() as temporary:
    assert_type(temporary, State)
with shmstruct.table(State, 2) as scoped_rows:
    assert_type(scoped_rows, shmstruct.Table[State])
assert_type(s.lock.holder, int | None)
assert_type(s.lock.recoveries, int)

# The lock is a condition too.
with s.lock:
    assert_type(s.lock.wait(), bool)
    assert_type(s.lock.wait(timeout=0.5), bool)
    assert_type(s.lock.wait_for(lambda: s.steps > 2, timeout=1.0), bool)
    assert_type(s.lock.wait_for(lambda: s.label or None), str | None)
    s.lock.notify()
    s.lock.notify(2)
    s.lock.notify_all()

# Atomic fields: typed operations; stores and constructor values are ints.
h = Hits(total=5)
assert_type(h.total, shmstruct.Atomic[int])
assert_type(h.small, shmstruct.Atomic[int])
assert_type(h.total.load(), int)
assert_type(h.total.add(1), int)
assert_type(h.total.sub(1), int)
assert_type(h.total.exchange(3), int)
assert_type(h.total.compare_exchange(3, 4), bool)
assert_type(h.total.wait(4, timeout=0.1), bool)
assert_type(int(h.small), int)
h.total.store(7)
h.total.notify_all()
h.total = 8
shmstruct.update(h, total=9, small=1)
atomic_rows = shmstruct.table(Hits, 2)
assert_type(atomic_rows[0].total.add(1), int)
atomic_log = shmstruct.log(Hits, 4)
atomic_log.append(total=1, small=2)
shmstruct.close(s)
shmstruct.unlink("typed-state")


# The namespace belongs to the user: fields may take the names of the operations.
class Job(SharedStruct):
    name: str = text(32)
    log: str = text(64)
    table: int = 0
    update: float = 0.0
    snapshot: bool = False
    layout: int = 0
    dtype: int = 0
    options: int = 0
    attach: int = 0
    close: int = 0


job = Job(name="render", table=3)
assert_type(job.name, str)
assert_type(job.log, str)
assert_type(job.close, int)
assert_type(shmstruct.segment_name(job), str)
assert_type(shmstruct.table(Job, 2)[0].name, str)
shmstruct.close(job)


# A specifier is typed as the value the field holds.
class Origin(SharedStruct):
    at: Vec3 = nested(Vec3, z=1.0)
    tag: str = text(4, "a")


# Must fail.
shmstruct.options(State, name="x")(stpes=1)  # type: ignore[call-arg]
shmstruct.options(State, nme="x")  # type: ignore[call-arg]
shmstruct.attach(State, 3)  # type: ignore[arg-type]
shmstruct.table(int, 3)  # type: ignore[type-var]
shmstruct.update(s, s)  # type: ignore[call-arg]
s.update(steps=1)  # type: ignore[attr-defined]
s.steps = "many"  # type: ignore[assignment]
s.running = 1.5  # type: ignore[assignment]
log.append(stpes=1)  # type: ignore[call-arg]
log.append(steps="x")  # type: ignore[arg-type]
log.append(1)  # type: ignore[call-arg]
required_log.append()  # type: ignore[call-arg]
rows[0].steps = 1.5  # type: ignore[assignment]
s.label = 5  # type: ignore[assignment]
s.origin = 3  # type: ignore[assignment]
s.stpes = 1  # type: ignore[attr-defined]
State(steps="many")  # type: ignore[arg-type]
State(stpes=1)  # type: ignore[call-arg]
State(1)  # type: ignore[call-arg]
Required()  # type: ignore[call-arg]
s.lock = s.lock  # type: ignore[misc]
s.grid.nonexistent  # type: ignore[attr-defined]
Hits(total="x")  # type: ignore[arg-type]
Hits(total=1.5)  # type: ignore[arg-type]
h.total.add("1")  # type: ignore[arg-type]
h.total = "x"  # type: ignore[assignment]
h.total.store(None)  # type: ignore[arg-type]
h.total.compare_exchange(1)  # type: ignore[call-arg]
h.total.increment(1)  # type: ignore[attr-defined]
atomic_log.append(total="x")  # type: ignore[arg-type]
s.lock.wait_for(3)  # type: ignore[arg-type]
s.lock.notify("all")  # type: ignore[arg-type]


class WrongSpecifier(SharedStruct):
    label: int = text(16)  # type: ignore[assignment]
    where: Vec3 = nested(Origin)  # type: ignore[assignment]


# The Redis store: proxies typed as their schema; logs as RemoteLog of it.
store = shmstruct.redis.connect("redis://localhost:6379/0", lease=5.0)
remote = store.create(State, "typing/state", steps=1)
assert_type(remote, State)
assert_type(store.attach(State, "typing/state"), State)
assert_type(remote.steps, int)
assert_type(remote.label, str)
remote_log = store.create_log(State, "typing/log", capacity=10, ring=True)
assert_type(remote_log, shmstruct.redis.RemoteLog[State])
assert_type(remote_log.append(steps=1), int)
assert_type(remote_log.wait(0, timeout=1.0), bool)
assert_type(store.attach_log(State, "typing/log"), shmstruct.redis.RemoteLog[State])
remote.steps = "x"  # type: ignore[assignment]
remote.stpes = 1  # type: ignore[attr-defined]
store.create(State, "typing/other", steps="x")  # type: ignore[arg-type]
store.create_log(State, "typing/log2")  # type: ignore[call-arg]
remote_table = store.create_table(State, "typing/table", rows=4)
assert_type(remote_table, shmstruct.redis.RemoteTable[State])
assert_type(remote_table[0], State)
assert_type(store.attach_table(State, "typing/table")[1].steps, int)
remote_table[0].steps = "x"  # type: ignore[assignment]
assert_type(remote_table[1:3], shmstruct.redis.RemoteTable[State])
assert_type(remote_table[1:3][0], State)
remote_table["x"]  # type: ignore[call-overload]
assert_type(remote.lock.wait_for(lambda: remote.steps > 1, timeout=1.0), bool)
assert_type(remote_table.lock.acquire(block=False), bool)
assert_type(remote_log.lock.wait(1.0), bool)
