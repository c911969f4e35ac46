"""Table and log benchmarks (issue 3): shmstruct against private numpy and the stdlib, in one run.

Run: ``python benchmarks/bench_table.py`` (10 million rows) or ``--quick`` (1 million rows).
"""

from __future__ import annotations

import argparse
import ctypes
import mmap
import multiprocessing as mp
import sys
import time
from typing import Any

import numpy as np
from measure import best_call, best_pair, note, report, summary

import shmstruct
from shmstruct import SharedStruct, Table
from shmstruct._schema import schema_of


class Particle(SharedStruct):
    x: float = 0.0
    y: float = 0.0
    mass: shmstruct.float32 = 1.0
    alive: bool = True


DTYPE = shmstruct.layout(Particle).dtype


def bench_column_sum(rows: int, repeat: int) -> None:
    table = shmstruct.table(Particle, rows)
    private = np.zeros(rows, dtype=DTYPE)
    values = np.random.default_rng(0).random(rows)
    table.column("x")[:] = values
    private["x"] = values
    ours, theirs = best_pair(lambda: table.column("x").sum(), lambda: private["x"].sum(), 3 * repeat)
    report(
        f"column('x').sum(), {rows:,} rows (vs private records)",
        ours,
        theirs,
        ">= 0.95x",
        theirs / ours >= 0.95,
        "bandwidth",
    )
    # The same private array on 4 KiB pages: Linux backs large private arrays with transparent
    # huge pages, but shared memory only where /sys/kernel/mm/transparent_hugepage/shmem_enabled
    # allows it. This line shows how much of the gap is page size.
    backing = mmap.mmap(-1, private.nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    backing.madvise(mmap.MADV_NOHUGEPAGE)
    small_pages = np.ndarray(private.shape, dtype=private.dtype, buffer=backing)
    small_pages["x"] = values
    ours, theirs = best_pair(lambda: table.column("x").sum(), lambda: small_pages["x"].sum(), 3 * repeat)
    report(f"  the same (vs private records on 4 KiB pages, {_shmem_thp()})", ours, theirs, "info", True, "bandwidth")


def _shmem_thp() -> str:
    try:
        with open("/sys/kernel/mm/transparent_hugepage/shmem_enabled") as setting:
            chosen = setting.read().split("[")[1].split("]")[0]
    except (OSError, IndexError):
        return "shmem huge pages: unknown"
    return f"shmem huge pages: {chosen}"


def simulate(part: Table[Particle], seed: int) -> None:
    """The work a particle worker does on its rows: draw positions, derive masses and liveness."""
    records = part.records
    rng = np.random.default_rng(seed)
    records["x"] = rng.random(len(part))
    records["y"] = rng.random(len(part))
    records["mass"] = np.hypot(records["x"], records["y"])
    records["alive"] = records["mass"] < 1.0


def _worker(part: Table[Particle], seed: int, ready: Any, go: Any, finished: Any) -> None:
    simulate(part[:1], seed)  # warm-up: imports and first-touch costs outside the timed part
    ready.wait()
    go.wait()
    start = time.perf_counter()
    simulate(part, seed)
    finished.put((start, time.perf_counter()))


def _timed_fill(table: Table[Particle], workers: int) -> float:
    """Wall time in ns for ``workers`` processes (already started and warmed up) to fill their shares."""
    ctx = mp.get_context("spawn")
    ready, go, finished = ctx.Barrier(workers + 1), ctx.Event(), ctx.Queue()
    share = len(table) // workers
    parts = [table[i * share : len(table) if i == workers - 1 else (i + 1) * share] for i in range(workers)]
    procs = [ctx.Process(target=_worker, args=(part, i, ready, go, finished)) for i, part in enumerate(parts)]
    for p in procs:
        p.start()
    ready.wait()
    go.set()
    spans = [finished.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
    return (max(end for _, end in spans) - min(start for start, _ in spans)) * 1e9


def bench_parallel_fill(rows: int, repeat: int) -> None:
    table = shmstruct.table(Particle, rows)
    one = min(_timed_fill(table, 1) for _ in range(repeat))
    two = min(_timed_fill(table, 2) for _ in range(repeat))
    report(f"fill {rows:,} rows: 2 workers by halves (vs 1 process)", two, one, ">= 1.6x", one / two >= 1.6, "speed-up")


class _CParticle(ctypes.Structure):
    _fields_ = [("x", ctypes.c_double), ("y", ctypes.c_double), ("mass", ctypes.c_float), ("alive", ctypes.c_bool)]


def bench_append(rows: int, repeat: int) -> None:
    def ours() -> None:
        log = shmstruct.log(Particle, rows)
        for _ in range(rows):
            log.append(x=1.0, y=2.0)

    # The stdlib way to keep the same log by hand: an Array of structs, a Value counter, one lock,
    # and no checking of the values.
    def theirs() -> None:
        records = mp.Array(_CParticle, rows)
        count = mp.Value("q", 0, lock=records.get_lock())
        for _ in range(rows):
            with records.get_lock():
                records[count.value] = _CParticle(1.0, 2.0, 1.0, True)
                count.value += 1

    ours_ns = best_call(ours, repeat) / rows
    theirs_ns = best_call(theirs, repeat) / rows
    report("log.append (vs Array of structs + Value count + lock)", ours_ns, theirs_ns, "<= 1x", ours_ns <= theirs_ns)
    note("log.append rate, one process", f"{1e9 / ours_ns:,.0f} rows/s", ">= 200k/s", 1e9 / ours_ns >= 200_000)


def bench_creation(rows: int, repeat: int) -> None:
    default = np.frombuffer(schema_of(Particle).default_image, dtype=DTYPE)[0]

    def theirs() -> None:
        private = np.zeros(rows, dtype=DTYPE)
        private[:] = default

    shmstruct.table(Particle, 1)  # warm-up: the resource tracker starts once per process
    ours = best_call(lambda: shmstruct.table(Particle, rows), repeat)
    theirs_ns = best_call(theirs, repeat)
    report(f"create a {rows:,}-row table (vs np.zeros + default fill)", ours, theirs_ns, "<= 2x", ours <= 2 * theirs_ns)


def bench_memory(rows: int) -> None:
    table, log, small = shmstruct.table(Particle, rows), shmstruct.log(Particle, rows), shmstruct.table(Particle, 10)
    payload = rows * DTYPE.itemsize
    table_extra = table._block.size - payload
    log_extra = log._block.size - payload
    small_extra = small._block.size - 10 * DTYPE.itemsize
    note(
        "shared memory of table / log beyond n x itemsize",
        f"table +{table_extra:,} B, log +{log_extra:,} B (the header; +{small_extra:,} B for 10 rows)",
        "constant",
        table_extra == log_extra == small_extra,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1 million rows instead of 10 million (a smoke run)")
    args = parser.parse_args()
    rows, repeat = (1_000_000, 3) if args.quick else (10_000_000, 5)
    print(f"Python {sys.version.split()[0]}, numpy {np.__version__}, shmstruct {shmstruct.__version__}, {rows:,} rows")
    bench_column_sum(rows, repeat)
    bench_parallel_fill(rows, repeat)
    bench_append(rows // 20, repeat)
    bench_creation(rows, repeat)
    bench_memory(rows)
    summary()


if __name__ == "__main__":
    main()
