"""The implementations ``report.py`` compares, and the worker that measures one of them.

``python benchmarks/report.py --measure KEY`` calls :func:`measure` in a fresh interpreter, so
that each implementation runs alone: importing UltraDict patches
``multiprocessing.resource_tracker`` for the whole process, and a Manager or a forkserver started
for one implementation must not slow the next one down.

Each implementation is a :class:`Subject`: the statements it runs (read, write, increment), how it
creates its objects, what it hands to a child and how a child attaches to that. The measuring
functions below are the same for every subject.

Only the standard library is imported at the top of this module: spawned children import it to
find their target, and each should pay only for what the object it receives needs (numpy,
shmstruct, a peer library), not for everything the benchmark uses.
"""

from __future__ import annotations

import gc
import importlib
import multiprocessing as mp
import os
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

MiB = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """How long and how often to measure. Times are the best of the repeats."""

    repeat_seconds: float = 0.05  # one timed repeat of a fast statement lasts about this long
    repeat: int = 5  # repeats of a fast statement
    contended_seconds: float = 0.15  # about how long each contending process runs, uncontended
    contended_max: int = 40_000  # most increments per contending process
    contended_repeat: int = 5
    array_bytes: int = 64 * MiB
    array_repeat: int = 10  # np.sum calls
    create_repeat: int = 20
    create_array_repeat: int = 5
    child_repeat: int = 5  # children started per start method (after one warm-up)


FULL = Settings()
QUICK = Settings(
    repeat_seconds=0.01,
    repeat=3,
    contended_seconds=0.04,
    contended_max=4_000,
    contended_repeat=1,
    array_bytes=8 * MiB,
    array_repeat=3,
    create_repeat=5,
    create_array_repeat=2,
    child_repeat=2,
)


# --------------------------------------------------------------------------- what a subject makes


@dataclass
class Held:
    """Objects a subject made (or attached to, in a child).

    ``env`` holds the names its statements use; ``payload`` is what a child receives;
    ``cleanup`` runs after ``env`` is emptied (so no numpy view pins a buffer being closed);
    ``names`` are the /dev/shm entries it created, checked for leaks at the end.
    """

    env: dict[str, Any]
    payload: Any = None
    cleanup: list[Callable[[], Any]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    def release(self) -> None:
        """Drop the objects and remove (or, in a child, detach from) what was created."""
        self.env.clear()
        self.payload = None
        gc.collect()
        for step in self.cleanup:
            step()
        self.cleanup.clear()


class Subject:
    """One implementation under test. Subclasses fill in the statements and the factories; a
    statement left ``None`` means the operation is not measured for this subject (with the reason
    in ``not_applicable`` if it is a real implementation, or no row at all for a reference)."""

    key: ClassVar[str]
    label: ClassVar[str]
    short: ClassVar[str]  # for the chart
    module: ClassVar[str | None] = None  # a third-party module that must import, or the subject is skipped
    distributions: ClassVar[tuple[str, ...]] = ()  # PyPI names whose versions the report prints
    read: ClassVar[str | None] = None
    write: ClassVar[str | None] = None  # "{value}" is the value written
    increment: ClassVar[str | None] = None  # a locked read-modify-write
    contended: ClassVar[str | None] = None  # what contending processes run; default: increment
    contended_locked: ClassVar[bool] = True
    bandwidth: ClassVar[str | None] = None  # display only; the timed call is np.sum(a)
    creation: ClassVar[str | None] = None
    array_creation: ClassVar[str | None] = None
    handoff: ClassVar[str | None] = None  # how the child receives it
    reference: ClassVar[bool] = False
    not_applicable: ClassVar[dict[str, str]] = {}

    def __init__(self) -> None:
        self.created: list[str] = []  # /dev/shm names made so far, checked for leaks at the end

    def new_scalar(self, ctx: Any = None) -> Held:
        """:meth:`scalar` (in ``ctx``, the default context if None), noting the segments it created."""
        return self._noted(self.scalar(ctx or mp.get_context()))

    def new_array(self, n: int) -> Held:
        """:meth:`array`, noting the segments it created."""
        return self._noted(self.array(n))

    def _noted(self, held: Held) -> Held:
        self.created.extend(held.names)
        return held

    def start(self) -> None:
        """Set up what every measurement of this subject shares (a Manager), untimed."""

    def stop(self) -> None:
        """Undo :meth:`start`."""

    def notes(self) -> list[str]:
        """Remarks printed with this subject in the report."""
        return []

    def scalar(self, ctx: Any) -> Held:
        """A new object holding one int (0), with the lock its increment uses. ``ctx`` is the
        multiprocessing context of the processes it will be handed to: stdlib synchronized objects
        and locks must be made by the same context as those processes."""
        raise NotImplementedError

    def array(self, n: int) -> Held:
        """A new shared float64 array of ``n`` elements; ``env["a"]`` is its numpy view."""
        raise NotImplementedError

    @staticmethod
    def attach(payload: Any) -> Held:
        """In a child: the statements' names, from what the child received."""
        raise NotImplementedError


def _np() -> Any:
    return importlib.import_module("numpy")


# --------------------------------------------------------------------------- the subjects


_SCHEMAS: dict[str, Any] = {}


def _schema(name: str, annotations: dict[str, Any], defaults: dict[str, Any]) -> Any:
    """A SharedStruct class made on first use and reachable as ``peers.<name>`` (so that it
    pickles by reference, while importing this module does not import shmstruct)."""
    if name not in _SCHEMAS:
        from shmstruct import SharedStruct

        namespace = {"__module__": __name__, "__qualname__": name, "__annotations__": annotations, **defaults}
        _SCHEMAS[name] = type(SharedStruct)(name, (SharedStruct,), namespace)
    return _SCHEMAS[name]


def __getattr__(name: str) -> Any:  # PEP 562: unpickling peers.Counter in a child builds it
    if name == "Counter":
        return _counter()
    raise AttributeError(name)


def _counter() -> Any:
    return _schema("Counter", {"x": int}, {"x": 0})


def _big(n: int) -> Any:
    from numpy.typing import NDArray

    from shmstruct import array

    return _schema(f"Big{n}", {"data": NDArray[_np().float64]}, {"data": array(n)})


class ShmStruct(Subject):
    """A one-field struct (``x: int``); arrays are a struct with one array field."""

    key = "shmstruct"
    label = "shmstruct"
    short = "shmstruct"
    distributions = ("shmstruct",)
    read = "s.x"
    write = "s.x = {value}"
    increment = "with s.lock: s.x += 1"
    bandwidth = "np.sum(s.data)"
    creation = "Counter()  # class Counter(SharedStruct): x: int = 0"
    array_creation = "Big()  # class Big(SharedStruct): data: NDArray[np.float64] = array(n)"
    handoff = "Process(target=f, args=(s,))"

    def scalar(self, ctx: Any) -> Held:
        import shmstruct

        s = _counter()()
        return Held(
            {"s": s}, payload=s, cleanup=[lambda: shmstruct.close(s)], names=[f"shms_{shmstruct.segment_name(s)}"]
        )

    def array(self, n: int) -> Held:
        import shmstruct

        s = _big(n)()
        return Held(
            {"s": s, "a": s.data}, cleanup=[lambda: shmstruct.close(s)], names=[f"shms_{shmstruct.segment_name(s)}"]
        )

    @staticmethod
    def attach(payload: Any) -> Held:
        import shmstruct

        return Held({"s": payload}, cleanup=[lambda: shmstruct.close(payload)])


class SyncValue(Subject):
    """``mp.Value`` with its own RLock (``get_lock()``); arrays are ``mp.Array`` (also locked)."""

    key = "value"
    label = "mp.Value / mp.Array"
    short = "mp.Value / Array"
    read = "v.value"
    write = "v.value = {value}"
    increment = "with v.get_lock(): v.value += 1"
    bandwidth = "np.sum(np.frombuffer(arr.get_obj()))"
    creation = "mp.Value('q', 0)  # with its own RLock"
    array_creation = "mp.Array('d', n)"
    handoff = "Process(target=f, args=(v,))"

    def scalar(self, ctx: Any) -> Held:
        v = ctx.Value("q", 0)
        return Held({"v": v}, payload=v)

    def array(self, n: int) -> Held:
        arr = mp.Array("d", n)
        return Held({"arr": arr, "a": _np().frombuffer(arr.get_obj())})

    @staticmethod
    def attach(payload: Any) -> Held:
        return Held({"v": payload})


class RawValue(Subject):
    """``mp.RawValue`` (no lock of its own) with a separate ``mp.Lock``; arrays are ``RawArray``."""

    key = "raw"
    label = "mp.RawValue / RawArray + mp.Lock"
    short = "RawValue / RawArray"
    read = "v.value"
    write = "v.value = {value}"
    increment = "with lock: v.value += 1"
    bandwidth = "np.sum(np.frombuffer(raw))"
    creation = "mp.RawValue('q', 0); mp.Lock()"
    array_creation = "mp.RawArray('d', n)"
    handoff = "Process(target=f, args=(v, lock))"

    def scalar(self, ctx: Any) -> Held:
        v, lock = ctx.RawValue("q", 0), ctx.Lock()
        return Held({"v": v, "lock": lock}, payload=(v, lock))

    def array(self, n: int) -> Held:
        raw = mp.RawArray("d", n)
        return Held({"raw": raw, "a": _np().frombuffer(raw)})

    @staticmethod
    def attach(payload: Any) -> Held:
        v, lock = payload
        return Held({"v": v, "lock": lock})


class ManagerNamespace(Subject):
    """A Manager's ``Namespace`` and ``Lock``: proxies to objects living in the manager process."""

    key = "manager"
    label = "Manager().Namespace() + Manager().Lock()"
    short = "Manager Namespace"
    read = "ns.x"
    write = "ns.x = {value}"
    increment = "with lock: ns.x += 1"
    creation = "manager.Namespace(x=0); manager.Lock()  # manager already running"
    handoff = "Process(target=f, args=(ns, lock))"
    not_applicable: ClassVar[dict[str, str]] = {
        "bandwidth": "values live in the manager process: every read pickles a copy through a socket",
        "create_array": "no shared array: a Namespace holds Python objects in the manager process",
    }
    manager: Any = None

    def start(self) -> None:
        self.manager = mp.Manager()

    def stop(self) -> None:
        self.manager.shutdown()

    def scalar(self, ctx: Any) -> Held:
        ns, lock = self.manager.Namespace(x=0), self.manager.Lock()
        return Held({"ns": ns, "lock": lock}, payload=(ns, lock))

    @staticmethod
    def attach(payload: Any) -> Held:
        ns, lock = payload
        return Held({"ns": ns, "lock": lock})


class SharedMemoryNumpy(Subject):
    """A ``SharedMemory`` block seen through a numpy view, with a separate ``mp.Lock``."""

    key = "shm"
    label = "SharedMemory + numpy + mp.Lock"
    short = "SharedMemory + numpy"
    read = "a[0]"
    write = "a[0] = {value}"
    increment = "with lock: a[0] += 1"
    bandwidth = "np.sum(np.ndarray((n,), np.float64, buffer=shm.buf))"
    creation = "SharedMemory(create=True, size=8); np.ndarray((1,), np.int64, buffer=shm.buf); mp.Lock()"
    array_creation = "SharedMemory(create=True, size=8 * n); np.ndarray(...)"
    handoff = "Process(target=f, args=(shm, lock))"

    def _block(self, dtype: str, n: int) -> tuple[Any, Any, list[Callable[[], Any]]]:
        from multiprocessing.shared_memory import SharedMemory

        np = _np()
        shm = SharedMemory(create=True, size=np.dtype(dtype).itemsize * n)
        return shm, np.ndarray((n,), dtype, buffer=shm.buf), [shm.close, shm.unlink]

    def scalar(self, ctx: Any) -> Held:
        shm, a, cleanup = self._block("int64", 1)
        lock = ctx.Lock()
        return Held({"a": a, "lock": lock}, payload=(shm, lock), cleanup=cleanup, names=[shm.name])

    def array(self, n: int) -> Held:
        shm, a, cleanup = self._block("float64", n)
        return Held({"a": a}, cleanup=cleanup, names=[shm.name])

    @staticmethod
    def attach(payload: Any) -> Held:
        shm, lock = payload
        a = _np().ndarray((1,), "int64", buffer=shm.buf)
        return Held({"a": a, "lock": lock}, cleanup=[shm.close])


class UltraDictSubject(Subject):
    """UltraDict (PyPI): a dict replicated through a shared-memory update stream, pickled values."""

    key = "ultradict"
    label = "UltraDict"
    short = "UltraDict"
    module = "UltraDict"
    distributions = ("UltraDict", "atomics")
    read = "d['x']"
    write = "d['x'] = {value}"
    increment = "with d.lock: d['x'] += 1"
    creation = "UltraDict({'x': 0}, shared_lock=True)"
    handoff = "Process(target=f, args=(d,))  # pickles to its name"
    not_applicable: ClassVar[dict[str, str]] = {
        "bandwidth": "values are pickled into the dict's update stream: a read unpickles a private copy, "
        "there is no shared numpy view",
        "create_array": "no shared array (values are pickled)",
    }
    shared_lock = True

    def start(self) -> None:
        try:
            importlib.import_module("atomics")
        except ImportError:
            # Without atomics, UltraDict's lock is a multiprocessing.RLock made per instance:
            # attaching processes (spawn, by name) get their own, so increments are not exclusive.
            self.shared_lock = False
            self.creation = "UltraDict({'x': 0}, shared_lock=False)"
            self.not_applicable = {
                **self.not_applicable,
                "increment": "needs the `atomics` package for UltraDict's cross-process lock (shared_lock=True)",
                "contended2": "needs `atomics` (shared_lock=True)",
                "contended4": "needs `atomics` (shared_lock=True)",
            }

    def notes(self) -> list[str]:
        lock = (
            "shared_lock=True (its lock for independent processes, built on `atomics`; every write takes it)"
            if self.shared_lock
            else "shared_lock=False, because `atomics` is not installed (a multiprocessing.RLock per instance)"
        )
        return [
            f"UltraDict is created with {lock} and the default buffer_size=10_000: when its update stream is "
            "full it writes a full dump into a new shared-memory segment, which is part of its write cost."
        ]

    def scalar(self, ctx: Any) -> Held:
        from UltraDict import UltraDict

        d = UltraDict({"x": 0}, shared_lock=self.shared_lock)
        return Held({"d": d}, payload=d, cleanup=[d.unlink], names=[d.name, f"{d.name}_memory"])

    @staticmethod
    def attach(payload: Any) -> Held:
        return Held({"d": payload}, cleanup=[payload.close])


SMD_SIZE = 1024


class SharedMemoryDictSubject(Subject):
    """shared-memory-dict (PyPI): the whole dict pickled into one shared-memory block."""

    key = "smd"
    label = "shared-memory-dict"
    short = "shared-memory-dict"
    module = "shared_memory_dict"
    distributions = ("shared-memory-dict",)
    read = "d['x']"
    write = "d['x'] = {value}"
    contended = "d['x'] += 1  # no lock"
    contended_locked = False
    creation = f"SharedMemoryDict(name, size={SMD_SIZE}); d['x'] = 0"
    handoff = f"Process(target=f, args=(name,)); SharedMemoryDict(name, size={SMD_SIZE}) in the child"
    not_applicable: ClassVar[dict[str, str]] = {
        "increment": "no cross-process lock: SHARED_MEMORY_USE_LOCK=1 only guards single calls with a "
        "module-level multiprocessing.Lock (shared with forked children only), not a read-modify-write",
        "bandwidth": "values are pickled: every read unpickles the whole dict (no shared numpy view)",
        "create_array": "no shared array (values are pickled)",
    }
    _count = 0

    def notes(self) -> list[str]:
        return [
            f"shared-memory-dict is created with size={SMD_SIZE} bytes: every read unpickles (and every write "
            "re-pickles) the whole dict from a copy of the whole segment, so its costs grow with `size`. "
            "Its contended line runs `d['x'] += 1` without a lock: it shows the lost updates."
        ]

    def scalar(self, ctx: Any) -> Held:
        from shared_memory_dict import SharedMemoryDict

        type(self)._count += 1
        name = f"shmbench_{os.getpid()}_{self._count}"
        d = SharedMemoryDict(name=name, size=SMD_SIZE)
        d["x"] = 0
        return Held({"d": d}, payload=name, cleanup=[d.cleanup, d.shm.unlink], names=[f"sm_{name}"])

    @staticmethod
    def attach(payload: Any) -> Held:
        from shared_memory_dict import SharedMemoryDict

        d = SharedMemoryDict(name=payload, size=SMD_SIZE)
        return Held({"d": d}, cleanup=[d.cleanup])


class PrivateNumpy(Subject):
    """Reference for the array lines: ordinary private numpy memory."""

    key = "numpy"
    label = "private numpy array (reference)"
    short = "private numpy (ref.)"
    reference = True
    bandwidth = "np.sum(a)  # a = np.zeros(n), private memory"
    array_creation = "np.zeros(n)  # calloc: pages zeroed lazily"

    def array(self, n: int) -> Held:
        return Held({"a": _np().zeros(n)})


class BareChild(Subject):
    """Reference for the child lines: a child that receives and reads nothing."""

    key = "bare"
    label = "bare child, nothing passed (reference)"
    short = "bare child (ref.)"
    reference = True
    handoff = "Process(target=f)"

    def scalar(self, ctx: Any) -> Held:
        return Held({})

    @staticmethod
    def attach(payload: Any) -> Held:
        return Held({})


SUBJECTS: dict[str, type[Subject]] = {
    cls.key: cls
    for cls in (
        ShmStruct,
        SyncValue,
        RawValue,
        ManagerNamespace,
        SharedMemoryNumpy,
        UltraDictSubject,
        SharedMemoryDictSubject,
        PrivateNumpy,
        BareChild,
    )
}

START_METHODS = ("fork", "spawn", "forkserver")


# --------------------------------------------------------------------------- timing helpers


def per_op_ns(stmt: str, env: dict[str, Any], settings: Settings) -> float:
    """Best time of one execution of ``stmt`` in ns: the loop count is grown until one repeat
    takes about ``repeat_seconds``, then the best of ``repeat`` repeats counts."""
    timer = timeit.Timer(stmt, globals=env)
    number, elapsed = 1, timer.timeit(1)
    while elapsed < settings.repeat_seconds / 10 and number < 10_000_000:
        number *= 10
        elapsed = timer.timeit(number)
    number = max(1, round(number * settings.repeat_seconds / max(elapsed, 1e-9)))
    return min(timer.repeat(repeat=settings.repeat, number=number)) / number * 1e9


def best_ns(run: Callable[[], float], repeat: int) -> float:
    """Best of ``repeat`` results of ``run`` (each returns seconds), in ns."""
    return min(run() for _ in range(repeat)) * 1e9


def _timed(make: Callable[[], Held], then: Callable[[Held], Any] = Held.release) -> float:
    start = time.perf_counter()
    held = make()
    elapsed = time.perf_counter() - start
    then(held)
    return elapsed


# --------------------------------------------------------------------------- the operations


def scalar_ops(subject: Subject, settings: Settings) -> dict[str, dict[str, Any]]:
    """Scalar read, scalar write and locked increment, one process."""
    statements = {
        "read": subject.read,
        "write": subject.write and subject.write.format(value=7),
        "increment": subject.increment,
    }
    held = subject.new_scalar()
    try:
        return {
            op: {"ns": per_op_ns(stmt, held.env, settings), "code": stmt}
            for op, stmt in statements.items()
            if stmt is not None and op not in subject.not_applicable
        }
    finally:
        held.release()


def _hammer(key: str, payload: Any, stmt: str, n: int, barrier: Any, times: Any, index: int) -> None:
    """A contending process: wait for the others, run ``stmt`` ``n`` times, and record when it
    started and ended in ``times[2 * index]`` and ``times[2 * index + 1]`` (perf_counter is the
    system-wide monotonic clock). Forked: the payload is the parent's own object, nothing to release."""
    held = SUBJECTS[key].attach(payload)
    env = {**held.env, "n": n}
    loop = compile(f"for _ in range(n):\n    {stmt}\n", "<contended>", "exec")
    barrier.wait()
    times[2 * index] = time.perf_counter()
    exec(loop, env)
    times[2 * index + 1] = time.perf_counter()


def contended(subject: Subject, settings: Settings, procs: int, single_ns: float) -> dict[str, Any]:
    """``procs`` forked processes each run the increment ``n`` times on one counter, started
    together once all are ready; wall time from the first one's start to the last one's end
    (process start-up is not counted). The final count is checked: anything short of procs * n is lost updates."""
    stmt = subject.contended or subject.increment
    assert stmt is not None and subject.read is not None and subject.write is not None
    n = max(200, min(settings.contended_max, int(settings.contended_seconds / (single_ns * 1e-9))))
    ctx = mp.get_context("fork")
    held = subject.new_scalar(ctx)
    walls, lost = [], 0
    try:
        for _ in range(settings.contended_repeat):
            exec(subject.write.format(value=0), held.env)
            barrier, times = ctx.Barrier(procs), ctx.RawArray("d", 2 * procs)
            args = [(subject.key, held.payload, stmt, n, barrier, times, i) for i in range(procs)]
            workers = [ctx.Process(target=_hammer, args=a) for a in args]
            for w in workers:
                w.start()
            for w in workers:
                w.join(timeout=600)
                if w.exitcode != 0:
                    raise RuntimeError(f"a contending process exited with {w.exitcode}")
            walls.append(max(times[1::2]) - min(times[0::2]))
            lost = max(lost, procs * n - int(eval(subject.read, held.env)))
    finally:
        held.release()
    wall = min(walls)
    return {
        "ns": wall * 1e9 / (procs * n),
        "wall_ns": wall * 1e9,
        "increments": procs * n,
        "lost": lost,
        "locked": subject.contended_locked,
        "code": stmt,
    }


def array_ops(subject: Subject, settings: Settings) -> dict[str, dict[str, Any]]:
    """np.sum bandwidth over a filled array, and the creation of one."""
    np = _np()
    n = settings.array_bytes // 8
    out: dict[str, dict[str, Any]] = {}
    if subject.array_creation and "create_array" not in subject.not_applicable:
        subject.new_array(n).release()  # warm-up (and shmstruct's schema class is defined here, untimed)
        ns = best_ns(lambda: _timed(lambda: subject.new_array(n)), settings.create_array_repeat)
        out["create_array"] = {"ns": ns, "code": subject.array_creation}
    if subject.bandwidth and "bandwidth" not in subject.not_applicable:
        held = subject.new_array(n)
        try:
            a = held.env["a"]
            a[:] = 1.0  # every page touched and present before timing

            def one_sum() -> float:
                start = time.perf_counter()
                total = np.sum(a)
                elapsed = time.perf_counter() - start
                assert total == n
                return elapsed

            ns = best_ns(one_sum, settings.array_repeat)
            del a
        finally:
            held.release()
        out["bandwidth"] = {"ns": ns, "gbps": settings.array_bytes / ns, "code": subject.bandwidth}
    return out


def creation(subject: Subject, settings: Settings) -> dict[str, Any]:
    """Create one object holding an int (and the lock its increment uses); removing it is not timed."""
    subject.new_scalar().release()  # warm-up: first segment, resource tracker
    return {"ns": best_ns(lambda: _timed(subject.new_scalar), settings.create_repeat), "code": subject.creation}


def child_read(key: str, payload: Any, expected: int | None, release: bool) -> None:
    """A child's whole job: attach to what it received, read the int, check it, exit."""
    subject = SUBJECTS[key]
    held = subject.attach(payload)
    if subject.read is not None:
        value = eval(subject.read, held.env)
        if int(value) != expected:
            raise SystemExit(f"read {value!r}, expected {expected}")
    if release:
        held.release()


def pool_read(key: str, payload: Any) -> int:
    """A pool task: attach to the argument, read the int and return it."""
    subject = SUBJECTS[key]
    held = subject.attach(payload)
    assert subject.read is not None
    value = int(eval(subject.read, held.env))
    held.release()
    return value


def _set_42(subject: Subject, held: Held) -> int | None:
    if subject.write is None:
        return None
    exec(subject.write.format(value=42), held.env)
    return 42


def _run_child(ctx: Any, subject: Subject, held: Held, expected: int | None) -> float:
    """Start a child of ``ctx`` that receives ``held.payload``, reads and checks the int, and
    exits; seconds from ``start()`` to the end of ``join()``."""
    release = ctx.get_start_method() != "fork"  # a forked child holds the parent's own objects
    child = ctx.Process(target=child_read, args=(subject.key, held.payload, expected, release))
    start = time.perf_counter()
    child.start()
    child.join(timeout=120)
    elapsed = time.perf_counter() - start
    if child.exitcode != 0:
        raise RuntimeError(f"the child exited with {child.exitcode}")
    return elapsed


def handoff(subject: Subject, settings: Settings, method: str) -> dict[str, Any]:
    """Time to start a child under ``method`` that receives the object (made by the same
    context) as its argument, reads the int and exits: best of ``child_repeat``, after a warm-up
    that also starts the forkserver."""
    ctx = mp.get_context(method)
    held = subject.new_scalar(ctx)
    expected = _set_42(subject, held)
    try:
        _run_child(ctx, subject, held, expected)
        return {
            "ns": best_ns(lambda: _run_child(ctx, subject, held, expected), settings.child_repeat),
            "code": subject.handoff,
        }
    finally:
        held.release()


def _answer(check: Callable[[], Any]) -> str:
    """ "yes" if ``check`` runs, else "no: " and the exception's first line."""
    try:
        check()
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        return f"no: {type(exc).__name__}: {first}".rstrip(": ")
    return "yes"


def pool_check(subject: Subject, method: str) -> str:
    """Whether the object (made by the pool's context) reaches a Pool worker as a task argument,
    which is pickled even under fork: "yes", or why not."""
    ctx = mp.get_context(method)
    held = subject.new_scalar(ctx)
    expected = _set_42(subject, held)
    pool = ctx.Pool(1)

    def check() -> None:
        value = pool.apply_async(pool_read, (subject.key, held.payload)).get(timeout=60)
        if value != expected:
            raise ValueError(f"read {value!r}, expected {expected}")

    try:
        return _answer(check)
    finally:
        pool.close()
        pool.join()
        held.release()


def other_context_check(subject: Subject) -> str:
    """Whether an object made by the fork context reaches a spawned child as its argument."""
    held = subject.new_scalar(mp.get_context("fork"))
    expected = _set_42(subject, held)
    try:
        return _answer(lambda: _run_child(mp.get_context("spawn"), subject, held, expected))
    finally:
        held.release()


def passing(subject: Subject) -> dict[str, str]:
    """The capability checks: a Pool task argument under each start method, and a Process
    argument across contexts."""
    answers = {f"pool_{method}": pool_check(subject, method) for method in START_METHODS}
    answers["other_context"] = other_context_check(subject)
    return answers


# --------------------------------------------------------------------------- the worker


def _leaked(names: list[str]) -> list[str]:
    return sorted({name for name in names if os.path.exists(os.path.join("/dev/shm", name))})


def _attempt(ops: dict[str, Any], names: tuple[str, ...], run: Callable[[], dict[str, Any]]) -> None:
    """Run measurements returning ``{op: result}``; an exception becomes the result of each of
    ``names`` instead of ending the worker."""
    try:
        ops.update(run())
    except Exception as exc:
        ops.update({op: {"error": f"{type(exc).__name__}: {exc}"} for op in names})


def _operations(subject: Subject, settings: Settings, ops: dict[str, Any]) -> None:
    """Every measurement that applies to ``subject``. The order matters: children are timed
    before the 64 MiB arrays (a forked child's start-up grows with its parent's memory), and
    creation comes last (UltraDict keeps every instance alive through an at-fork hook)."""
    if subject.read is not None:
        _attempt(ops, ("read", "write", "increment"), lambda: scalar_ops(subject, settings))
        single = ops.get("increment", ops.get("write", {})).get("ns")
        for procs in (2, 4):
            op = f"contended{procs}"
            if single and op not in subject.not_applicable:
                _attempt(ops, (op,), lambda p=procs, o=op: {o: contended(subject, settings, p, single)})
    if subject.handoff:
        for method in START_METHODS:
            op = f"child_{method}"
            _attempt(ops, (op,), lambda m=method, o=op: {o: handoff(subject, settings, m)})
    _attempt(ops, ("bandwidth", "create_array"), lambda: array_ops(subject, settings))
    if subject.creation:
        _attempt(ops, ("create",), lambda: {"create": creation(subject, settings)})


def measure(key: str, quick: bool, capabilities: bool) -> dict[str, Any]:
    """Measure every operation of one subject; returns what the report merges (JSON-ready).
    ``capabilities`` adds the Pool check (once per report is enough)."""
    cls = SUBJECTS[key]
    out: dict[str, Any] = {"key": key, "label": cls.label, "short": cls.short, "reference": cls.reference}
    if cls.module:
        try:
            importlib.import_module(cls.module)
        except Exception as exc:
            return {**out, "skipped": f"{cls.module} does not import ({type(exc).__name__}: {exc})"}
    settings = QUICK if quick else FULL
    subject = cls()
    subject.start()
    ops: dict[str, Any] = {}
    try:
        _operations(subject, settings, ops)
        if capabilities and subject.handoff and not subject.reference:
            out["passing"] = passing(subject)
    finally:
        subject.stop()
    gc.collect()
    out.update(ops=ops, not_applicable=subject.not_applicable, notes=subject.notes(), leaked=_leaked(subject.created))
    return out
