"""Core benchmarks: shmstruct against the stdlib equivalent, measured side by side in one run.

Every line prints both timings and their ratio; the ratio is the figure that matters (the machines
are noisy, absolute times are not). Run: ``python benchmarks/bench_core.py`` (see README.md here).
"""

from __future__ import annotations

import argparse
import ctypes
import multiprocessing as mp
import sys
from typing import Any

import numpy as np
from numpy.typing import NDArray

import shmstruct
from measure import best, best_call, best_pair, report, summary
from shmstruct import SharedStruct, array


class Counter(SharedStruct):
    steps: int = 0
    temperature: float = 20.0
    level: shmstruct.int8 = 0


class Big(SharedStruct):
    data: NDArray[np.float64] = array(8 * 1024 * 1024)  # 64 MiB


def bench_scalars(number: int, repeat: int) -> None:
    s = Counter()
    raw = mp.RawValue("q", 0)
    synced = mp.Value("q", 0)
    env = {"s": s, "raw": raw, "synced": synced}
    ours = best("s.steps", env, number, repeat)
    theirs = best("raw.value", env, number, repeat)
    report("scalar read (vs RawValue.value)", ours, theirs, "<= 1.5x", ours <= 1.5 * theirs)
    ours = best("s.steps = 7", env, number, repeat)
    theirs = best("synced.value = 7", env, number, repeat)
    report("checked scalar write (vs Value.value =)", ours, theirs, "<= 1.5x", ours <= 1.5 * theirs)
    ours = best("s.temperature = 7.5", env, number, repeat)
    report("checked float write (vs Value.value =)", ours, theirs, "<= 1.5x", ours <= 1.5 * theirs)
    ours = best("with s.lock: s.steps += 1", env, number, repeat)
    theirs = best("with synced.get_lock(): synced.value += 1", env, number, repeat)
    report("locked increment (vs Value + get_lock())", ours, theirs, "<= 0.8x", ours <= 0.8 * theirs)


def bench_lock(number: int, repeat: int) -> None:
    # The lock is crash-safe (issue 4): it records its holder on every acquire, in Python.
    s = Counter()
    rlock = mp.RLock()
    env = {"lock": s.lock, "rlock": rlock}
    ours = best("with lock: pass", env, number, repeat)
    theirs = best("with rlock: pass", env, number, repeat)
    report("uncontended with s.lock (vs with mp.RLock())", ours, theirs, "<= 1.5x", ours <= 1.5 * theirs)
    ours = best("lock.acquire(); lock.release()", env, number, repeat)
    theirs = best("rlock.acquire(); rlock.release()", env, number, repeat)
    report("  acquire()+release() (vs RLock's, C methods)", ours, theirs, "info", True)


def bench_array_sum(repeat: int) -> None:
    s = Big()
    s.data[:] = np.random.default_rng(0).random(s.data.shape)
    private = s.data.copy()
    ours, theirs = best_pair(lambda: np.sum(s.data), lambda: np.sum(private), 3 * repeat)
    # Bandwidth ratio: higher is better, so the target is on theirs / ours.
    ok = theirs / ours >= 0.95
    report("np.sum over a 64 MiB array field (vs private)", ours, theirs, ">= 0.95x", ok, "bandwidth")


def bench_creation(repeat: int) -> None:
    namespace: dict[str, Any] = {"__annotations__": {f"f{i}": int for i in range(100)}}
    namespace.update({f"f{i}": i for i in range(100)})
    Hundred: Any = type(SharedStruct)("Hundred", (SharedStruct,), namespace)
    Hundred()  # warm-up: starts the resource tracker once, as the stdlib's first named lock would

    def ours_make() -> None:
        for _ in range(20):
            Hundred()

    def theirs_make() -> None:
        for _ in range(20):
            [mp.Value("q", i) for i in range(100)]

    ours = best_call(ours_make, repeat) / 20
    theirs = best_call(theirs_make, repeat) / 20
    report("create 100-field struct (vs 100 Values)", ours, theirs, ">= 50x", theirs >= 50 * ours, "speed-up")

    ours = best_call(lambda: Big(), repeat)
    theirs = best_call(lambda: mp.RawArray(ctypes.c_double, 8 * 1024 * 1024), repeat)
    # RawArray writes every page; a fresh shared segment is already zero, so creation should not scale with size.
    report("create a 64 MiB array field (vs RawArray)", ours, theirs, ">= 10x", ours * 10 <= theirs, "speed-up")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    args = parser.parse_args()
    number, repeat = (20_000, 3) if args.quick else (300_000, 7)
    print(f"Python {sys.version.split()[0]}, numpy {np.__version__}, shmstruct {shmstruct.__version__}")
    bench_scalars(number, repeat)
    bench_lock(number, repeat)
    bench_array_sum(repeat)
    bench_creation(repeat)
    summary()


if __name__ == "__main__":
    main()
