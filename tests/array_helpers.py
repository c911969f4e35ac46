"""Schemas with array fields, tables and logs, and the child functions that use them (importable
by spawned children). Importing this module imports numpy (not pydantic: see ``state_helpers``); a
child that needs neither imports only ``helpers`` (or ``sync_helpers``) and starts much faster."""

from __future__ import annotations

import ctypes
import time
from typing import Annotated, Any

import numpy as np
from helpers import JOIN_TIMEOUT, Counter
from numpy.typing import NDArray

import shmstruct
from shmstruct import SharedStruct, array, nested, text


class Vec3(SharedStruct):
    x: float = 0.0
    y: float = 0.0
    z: float = 0.0


class EveryType(SharedStruct):
    """One field of every scalar type of multiprocessing.Value's table, plus text and arrays."""

    b: Annotated[int, ctypes.c_byte] = -3
    ub: Annotated[int, ctypes.c_ubyte] = 3
    h: Annotated[int, ctypes.c_short] = -300
    uh: Annotated[int, ctypes.c_ushort] = 300
    i: Annotated[int, ctypes.c_int] = -70000
    ui: Annotated[int, ctypes.c_uint] = 70000
    l: Annotated[int, ctypes.c_long] = -(2**40)  # noqa: E741
    ul: Annotated[int, ctypes.c_ulong] = 2**40
    q: Annotated[int, ctypes.c_longlong] = -(2**50)
    uq: Annotated[int, ctypes.c_ulonglong] = 2**50
    f: Annotated[float, ctypes.c_float] = 1.5
    d: Annotated[float, ctypes.c_double] = 2.25
    flag: Annotated[bool, ctypes.c_bool] = False
    c: Annotated[bytes, ctypes.c_char] = b"a"
    u: Annotated[str, ctypes.c_wchar] = "x"
    words: str = text(32, "hello")
    samples: NDArray[np.int32] = array(5)
    matrix: NDArray[np.float64] = array((2, 3))
    where: Vec3 = nested(x=1.0, y=2.0, z=3.0)


def double_every_field(s: EveryType) -> None:
    """CPython's test_sharedctypes `_double`, for every type: the child doubles each value."""
    with s.lock:
        for name in ("b", "ub", "h", "uh", "i", "ui", "l", "ul", "q", "uq", "f", "d"):
            setattr(s, name, getattr(s, name) * 2)
        s.flag = not s.flag
        s.c = b"b"
        s.u = "y"
        s.words = s.words * 2
        s.samples[:] *= 2
        s.matrix *= 2
        s.where.x *= 2
        s.where.y *= 2
        s.where.z *= 2


class Pair(SharedStruct):
    a: int = 0
    b: int = 0
    word: str = text(64)
    block: NDArray[np.int64] = array(256)


def keep_writing(pair: Pair, started: Any, stop: Any) -> None:
    """Alternate whole-value writes until told to stop: text, whole arrays and update()."""
    i = 0
    while not stop.is_set():
        i += 1
        pair.word = ("ab"[i % 2]) * (32 + i % 32)
        pair.block = np.full(256, i, dtype=np.int64)
        pair.update(a=i, b=-i)
        if i == 1:
            started.set()


# --------------------------------------------------------------------------- tables and logs


class Particle(SharedStruct):
    x: float = 0.0
    y: float = 0.0
    mass: shmstruct.float32 = 1.0
    alive: bool = True


class Entry(SharedStruct):
    """A log row whose parts all derive from (worker, seq): a torn or half-written row shows."""

    worker: int = -1
    seq: int = -1
    square: int = -1
    tag: str = text(24, "unset")
    echo: NDArray[np.int64] = array(4)
    where: Vec3 = nested(x=-1.0, y=-1.0, z=-1.0)


def entry_values(worker: int, seq: int) -> dict[str, Any]:
    """The fields of the row that ``worker`` appends as its ``seq``-th."""
    return {
        "worker": worker,
        "seq": seq,
        "square": seq * seq + worker,
        "tag": f"w{worker}-s{seq}",
        "echo": np.full(4, seq, dtype=np.int64),
        "where": {"x": float(worker), "y": float(seq), "z": 1.0},
    }


def broken_entries(records: Any) -> list[int]:
    """Indexes of rows in ``records`` (an ``Entry`` array) that are not exactly one finished append."""
    worker, seq = records["worker"], records["seq"]
    good = (worker >= 0) & (seq >= 0) & (records["square"] == seq * seq + worker)
    good &= (records["echo"] == seq[:, None]).all(axis=1)
    good &= (records["where"]["x"] == worker) & (records["where"]["y"] == seq) & (records["where"]["z"] == 1.0)
    tags = [bytes(t).rstrip(b"\0").decode() for t in records["tag"]]
    good &= np.array([t == f"w{w}-s{s}" for t, w, s in zip(tags, worker, seq, strict=True)], dtype=bool)
    return [int(i) for i in np.flatnonzero(~good)]


def append_entries(log: Any, worker: int, count: int, go: Any) -> None:
    """A log writer: wait for the start signal, then append ``count`` rows."""
    go.wait(JOIN_TIMEOUT)
    for seq in range(count):
        log.append(**entry_values(worker, seq))


def watch_entries(log: Any, expected: int, result: Any) -> None:
    """A log reader: copy the finished rows over and over until all ``expected`` are there; report
    how many reads it made and any row that was not a finished append."""
    reads, broken = 0, []
    while True:
        rows = np.array(log.records)  # the rows visible now, copied
        reads += 1
        broken = broken_entries(rows)
        if broken or len(rows) >= expected:
            break
    result.put((reads, len(rows), broken[:5]))


def fill_column(part: Any, name: str, value: float) -> None:
    """The classic worker: write a value into one column of the rows (a table slice) it was given."""
    part.column(name)[:] = value


def double_rows_through_proxies(table: Any) -> None:
    """Double x of every row through checked row proxies; read y through ``records``, store in mass."""
    for row in table:
        row.x = row.x * 2
    records = table.records
    records["mass"] = records["y"]


def shared_things() -> tuple[Any, ...]:
    """One of each kind of shared object: a struct, a table, a log, a row of a table and a slice."""
    counter = Counter(value=1)
    table = Particle.table(6)
    log = Particle.log(10)
    log.append(x=1.0)
    return counter, table, log, table[3], table[4:6]


def bump(things: tuple[Any, ...]) -> tuple[Any, ...]:
    """Change each shared object through the reference received, and send the references back."""
    counter, table, log, row, part = things
    with counter.lock:
        counter.value += 1
    table.column("x")[:2] += 1.0
    log.append(x=2.0)
    row.y = 5.0
    part.column("mass")[:] = 3.0
    return things


def check_bumped(things: tuple[Any, ...], times: int) -> None:
    """What ``times`` calls of :func:`bump` leave, seen through the parent's own objects."""
    counter, table, log, row, _part = things
    assert counter.value == 1 + times
    assert table.column("x").tolist() == [float(times)] * 2 + [0.0] * 4
    assert sorted(log.column("x").tolist()) == [1.0] + [2.0] * times
    assert row.y == (5.0 if times else 0.0) and table[3].y == row.y
    assert table.column("mass").tolist() == [1.0] * 4 + [3.0 if times else 1.0] * 2


def bump_from_queue(inbox: Any, outbox: Any) -> None:
    outbox.put(bump(inbox.get(timeout=JOIN_TIMEOUT)))


def bump_from_pipe(end: Any) -> None:
    end.send(bump(end.recv()))


def make_shared(value: int) -> tuple[Any, ...]:
    """A worker creates shared objects and returns them (then drops its own references)."""
    counter = Counter(value=value)
    table = Particle.table(3)
    table.column("x")[:] = float(value)
    log = Particle.log(4)
    log.append(x=float(value))
    return counter, table, log


# --------------------------------------------------------------------------- the stress test


class Tally(SharedStruct):
    total: int = 0
    done: NDArray[np.int64] = array(256)  # completed increments, per worker id
    attached: NDArray[np.int64] = array(256)  # completed attach-and-increment rounds, per worker id
    scratch: float = 0.0
    stop: bool = False  # not a multiprocessing.Event: a worker killed inside Event.is_set() wedges its lock


class Mark(SharedStruct):
    """A log row whose check field derives from the other two: a torn row shows."""

    worker: int = -1
    seq: int = -1
    check: int = -1


def mark_check(worker: int, seq: int) -> int:
    return seq * 7919 + worker * 1_000_003


def stress_worker(wid: int, tally_name: str, log: Any, scratch_name: str, ready: Any, go: Any) -> None:
    """Attach, say so and wait for ``go``; then mixed work until told to stop: reads, writes,
    locked increments, appends, attach/detach. Every increment it completes is counted under the
    same lock, in its own slot of the tally."""
    import random
    import warnings

    warnings.simplefilter("ignore", shmstruct.DeadHolderWarning)  # expected: others get killed
    tally = Tally.attach(tally_name)
    rng = random.Random(wid)
    seq = 0
    ready.set()
    go.wait()
    while not tally.stop:
        for _ in range(200):
            op = rng.random()
            if op < 0.30:
                with tally.lock:
                    tally.total += 1
                    tally.done[wid] += 1
            elif op < 0.55:
                try:
                    log.append(worker=wid, seq=seq, check=mark_check(wid, seq))
                    seq += 1
                except shmstruct.LogFullError:
                    pass
            elif op < 0.75:
                _ = tally.total + tally.scratch
            elif op < 0.95:
                tally.scratch = rng.random()
            else:
                other = Counter.attach(scratch_name)
                with other.lock:
                    other.value += 1
                    tally.attached[wid] += 1
                other.close()


# --------------------------------------------------------------------------- holders killed mid-update


class Bulky(SharedStruct):
    """A struct whose update takes long enough (a 16 MiB copy) to be killed in the middle of."""

    serial: int = 0
    data: NDArray[np.float64] = array(2 * 1024 * 1024)
    check: int = 0


def update_forever(b: Bulky, ready: Any) -> None:
    """update() over and over, each a 16 MiB copy under the lock."""
    values = [np.full(b.data.shape, float(n)) for n in range(2)]
    ready.set()
    i = 0
    while True:
        i += 1
        b.update(serial=i, data=values[i % 2], check=i)


class Row(SharedStruct):
    """A log row with a large part, so that an append spends a while inside the lock."""

    seq: int = -1
    payload: NDArray[np.int64] = array(64 * 1024)
    check: int = -1


def append_forever(log: Any, ready: Any) -> None:
    """Append rows whose parts all derive from their sequence number, until killed."""
    payloads = [np.full(64 * 1024, n, dtype=np.int64) for n in range(2)]
    ready.set()
    seq = 0
    while True:
        try:
            log.append(seq=seq, payload=payloads[seq % 2], check=seq * 3)
        except shmstruct.LogFullError:
            time.sleep(0.001)
            continue
        seq += 1
