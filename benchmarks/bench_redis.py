"""Redis store benchmarks (issue 13): shmstruct.redis against the same operations written by hand
with redis-py on the same server, and against a ``multiprocessing.managers.BaseManager`` over TCP
on this machine, side by side in one run.

Run: ``python benchmarks/bench_redis.py`` (starts its own redis-server on a free port; or give
``--url``), ``--quick`` for a smoke run. Needs ``pip install -e '.[redis]'`` and ``redis-server``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from multiprocessing.managers import AcquirerProxy, BaseManager, Namespace, NamespaceProxy
from typing import Any

from measure import best_pair, note, report, summary

import shmstruct
import shmstruct.redis
from shmstruct import Atomic, SharedStruct, atomic, text

WORKERS = 4


class State(SharedStruct):
    steps: int = 0
    hits: Atomic[int] = atomic()


class Wide(SharedStruct):  # 20 fields, for the snapshot line
    f0: int = 0
    f1: int = 1
    f2: int = 2
    f3: int = 3
    f4: int = 4
    f5: float = 0.5
    f6: float = 1.5
    f7: float = 2.5
    f8: float = 3.5
    f9: float = 4.5
    f10: bool = False
    f11: bool = True
    f12: shmstruct.int8 = 1
    f13: shmstruct.int16 = 2
    f14: shmstruct.int32 = 3
    f15: shmstruct.uint8 = 4
    f16: shmstruct.float32 = 0.25
    f17: str = text(16)
    f18: str = text(32)
    f19: int = 19


# --------------------------------------------------------------------------- a manager over TCP


class Counter:
    """The manager's best case: a served object with a method per operation, so that an add is
    one round trip (its own lock makes it correct under the manager's one thread per client)."""

    def __init__(self) -> None:
        self.steps = 0
        self.hits = 0
        self._lock = threading.Lock()

    def set_steps(self, value: int) -> None:
        self.steps = value

    def add(self, n: int) -> int:
        with self._lock:
            old = self.hits
            self.hits += n
            return old


class CounterManager(BaseManager):
    pass


_counter = Counter()
_namespace = Namespace(hits=0)  # the usual way: a Namespace and a Lock of the manager
_lock = threading.Lock()


def _served_counter() -> Counter:
    return _counter


def _served_namespace() -> Namespace:
    return _namespace


def _served_lock() -> threading.Lock:
    return _lock


CounterManager.register("counter", callable=_served_counter)
CounterManager.register("namespace", callable=_served_namespace, proxytype=NamespaceProxy)
CounterManager.register("lock", callable=_served_lock, proxytype=AcquirerProxy)


def _manager(address: tuple[str, int]) -> Any:
    manager = CounterManager(address=address, authkey=b"bench")
    manager.connect()
    return manager


def namespace_add(namespace: Any, lock: Any) -> None:
    with lock:
        namespace.hits += 1


# --------------------------------------------------------------------------- the server


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_redis(directory: str) -> tuple[subprocess.Popen[bytes], str]:
    """A redis-server without persistence on a free port: the process and its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not on PATH (Debian: apt-get install redis-server), or give --url")
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    probe = redis.Redis.from_url(url)
    for _ in range(500):
        try:
            probe.ping()
            break
        except Exception:
            time.sleep(0.01)
    probe.close()
    return process, url


# --------------------------------------------------------------------------- throughput of 4 processes


def _worker(kind: str, url: str, address: tuple[str, int], operations: int, ready: Any, go: Any) -> None:
    if kind == "shmstruct":
        store = shmstruct.redis.connect(url)
        state = store.attach(State, "bench/state")
        op: Callable[[int], Any] = lambda i: state.hits.add(1)  # noqa: E731
    elif kind == "method":
        counter = _manager(address).counter()
        op = lambda i: counter.add(1)  # noqa: E731
    else:
        manager = _manager(address)
        namespace, lock = manager.namespace(), manager.lock()
        op = lambda i: namespace_add(namespace, lock)  # noqa: E731
    op(0)
    ready.wait()
    go.wait()
    for i in range(operations):
        op(i)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process ``pid`` has used, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def throughput(kind: str, url: str, address: tuple[str, int], operations: int) -> float:
    """Atomic adds per second of ``WORKERS`` processes, each with its own connection."""
    ctx = mp.get_context("spawn")
    ready, go = ctx.Barrier(WORKERS + 1), ctx.Event()
    workers = [ctx.Process(target=_worker, args=(kind, url, address, operations, ready, go)) for _ in range(WORKERS)]
    for worker in workers:
        worker.start()
    ready.wait()
    start = time.perf_counter()
    go.set()
    for worker in workers:
        worker.join()
        if worker.exitcode != 0:
            raise SystemExit(f"a {kind} worker failed")
    return WORKERS * operations / (time.perf_counter() - start)


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few repeats (a smoke run)")
    parser.add_argument("--url", help="an existing server to use (keys under shmstruct:{bench/...} are replaced)")
    args = parser.parse_args()
    calls, repeat, operations = (200, 3, 500) if args.quick else (2_000, 7, 5_000)
    server = None
    with tempfile.TemporaryDirectory() as directory:
        if args.url:
            url = args.url
        else:
            server, url = start_redis(directory)
        manager = CounterManager(address=("127.0.0.1", 0), authkey=b"bench")
        manager.start()
        address = manager.address
        servers = {"redis": server.pid if server is not None else None, "manager": manager._process.pid}
        try:
            run(url, address, calls, repeat, operations, servers)
        finally:
            manager.shutdown()
            if server is not None:
                server.terminate()
                server.wait()


def run(url: str, address: tuple[str, int], calls: int, repeat: int, operations: int, servers: dict[str, Any]) -> None:
    import redis

    store = shmstruct.redis.connect(url)
    for name in ("bench/state", "bench/wide", "bench/table"):
        store.delete(name)
    state = store.create(State, "bench/state")
    wide = store.create(Wide, "bench/wide", f17="seventeen", f18="eighteen")
    raw = redis.Redis.from_url(url)
    info = raw.info("server")
    print(
        f"Python {sys.version.split()[0]}, redis-py {redis.__version__}, Redis {info['redis_version']} on this "
        f"machine ({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}); best of {repeat} runs of {calls} calls, "
        "the two sides alternated"
    )
    state_key, wide_key = "shmstruct:{bench/state}", "shmstruct:{bench/wide}"

    def loop(fn: Callable[[int], Any]) -> Callable[[], None]:
        def run_all() -> None:
            for i in range(calls):
                fn(i)

        return run_all

    def setattr_steps(i: int) -> None:
        state.steps = i

    ours, theirs = best_pair(loop(setattr_steps), loop(lambda i: raw.hset(state_key, "steps", i)), repeat)
    ratio = ours / theirs
    report("checked field write: s.steps = i (vs HSET)", ours / calls, theirs / calls, "<= 1.3x", ratio <= 1.3)

    ours, theirs = best_pair(
        loop(lambda i: state.hits.add(1)), loop(lambda i: raw.hincrby(state_key, "hits", 1)), repeat
    )
    ratio = ours / theirs
    report("atomic add: s.hits.add(1) (vs HINCRBY)", ours / calls, theirs / calls, "<= 1.3x", ratio <= 1.3)

    ours, theirs = best_pair(loop(lambda i: state.steps), loop(lambda i: raw.hget(state_key, "steps")), repeat)
    report("field read: s.steps (vs HGET)", ours / calls, theirs / calls, "info", True)

    row = store.create_table(State, "bench/table", rows=64)[3]
    ours, theirs = best_pair(loop(lambda i: row.hits.add(1)), loop(lambda i: raw.hincrby(state_key, "hits", 1)), repeat)
    report("table cell atomic add: t[3].hits.add(1) (vs HINCRBY)", ours / calls, theirs / calls, "info", True)

    before = int(raw.info("stats")["total_commands_processed"])
    shmstruct.snapshot(wide)
    commands = int(raw.info("stats")["total_commands_processed"]) - before - 1  # less the second INFO
    note("snapshot of a 20-field struct: commands sent", f"{commands} (HGETALL)", "1", commands == 1)
    snap_loop = loop(lambda i: shmstruct.snapshot(wide))
    ours, theirs = best_pair(snap_loop, loop(lambda i: raw.hgetall(wide_key)), repeat)
    report("  its time, decoded into the model (vs HGETALL)", ours / calls, theirs / calls, "info", True)

    manager = _manager(address)
    counter, namespace, lock = manager.counter(), manager.namespace(), manager.lock()
    ours, theirs = best_pair(loop(setattr_steps), loop(lambda i: setattr(namespace, "steps", i)), repeat)
    report("field write vs a BaseManager Namespace over TCP", ours / calls, theirs / calls, "info", True)
    adds = loop(lambda i: state.hits.add(1))
    ours, theirs = best_pair(adds, loop(lambda i: namespace_add(namespace, lock)), repeat)
    report("atomic add vs with lock: ns.hits += 1 (Namespace)", ours / calls, theirs / calls, "info", True)
    ours, theirs = best_pair(adds, loop(lambda i: counter.add(1)), repeat)
    report("atomic add vs a served counter's add() method", ours / calls, theirs / calls, "info", True)

    # Throughput: WORKERS processes at once, each with its own connection; and what the server
    # spent: 1 / its CPU time per operation is what one server core sustains when clients on
    # other hosts keep it busy (here the clients share the 2 cores with the server, and bound the
    # throughput as much as the server does).
    cpu: dict[str, float] = {}
    rates: dict[str, float] = {}
    counts: dict[str, int] = {}
    for kind, server in (("shmstruct", "redis"), ("namespace", "manager"), ("method", "manager")):
        pid = servers[server]
        before = {"shmstruct": state.hits.load, "namespace": lambda: namespace.hits, "method": lambda: counter.add(0)}
        start_count, start_cpu = before[kind](), cpu_seconds(pid) if pid else 0.0
        rates[kind] = throughput(kind, url, address, operations)
        cpu[kind] = (cpu_seconds(pid) - start_cpu) / (WORKERS * operations) if pid else 0.0
        counts[kind] = before[kind]() - start_count
    for kind, label, target in (
        ("namespace", "with lock: ns.hits += 1 on a Namespace", ">= 3x"),
        ("method", "a served counter's add() (its best case)", "info"),
    ):
        speedup = rates["shmstruct"] / rates[kind]
        note(
            f"adds/s, {WORKERS} processes, vs {label}",
            f"{rates['shmstruct']:,.0f}/s vs {rates[kind]:,.0f}/s: {speedup:.2f}x",
            target,
            speedup >= 3 or target == "info",
        )
        if cpu["shmstruct"] and cpu[kind]:
            note(
                "  ops/s one server core sustains",
                f"redis-server {1 / cpu['shmstruct']:,.0f}/s vs the manager {1 / cpu[kind]:,.0f}/s: "
                f"{cpu[kind] / cpu['shmstruct']:.2f}x",
                "info",
                True,
            )
    expected = WORKERS * (operations + 1)  # every add of the workers, none lost
    lost = {kind: expected - count for kind, count in counts.items() if count != expected}
    note(f"adds counted, {WORKERS} processes", f"{expected:,} each; lost: {lost or 'none'}", "exact", not lost)
    for name in ("bench/state", "bench/wide", "bench/table"):
        store.delete(name)
    store.close()
    raw.close()
    print()
    summary()


if __name__ == "__main__":
    main()
