"""Timing and reporting helpers shared by the benchmark scripts (not part of the package)."""

from __future__ import annotations

import time
import timeit
from collections.abc import Callable
from typing import Any

RESULTS: list[tuple[str, bool]] = []


def best(stmt: str, env: dict[str, Any], number: int, repeat: int) -> float:
    """Best time per execution of ``stmt`` in ns (``timeit``, best of ``repeat`` runs)."""
    return min(timeit.Timer(stmt, globals=env).repeat(repeat=repeat, number=number)) / number * 1e9


def best_side_by_side(ours: str, theirs: str, env: dict[str, Any], number: int, repeat: int) -> tuple[float, float]:
    """Best times per execution in ns of two statements, their ``timeit`` repeats alternated so
    that a burst of background load weighs on both sides alike."""
    timers = (timeit.Timer(ours, globals=env), timeit.Timer(theirs, globals=env))
    runs: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for timer, times in zip(timers, runs, strict=True):
            times.append(timer.timeit(number) / number * 1e9)
    return min(runs[0]), min(runs[1])


def best_call(fn: Callable[[], Any], repeat: int) -> float:
    """Best time of one call of ``fn`` in ns, over ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1e9


def best_pair(ours: Callable[[], Any], theirs: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Best times in ns of ``ours`` and ``theirs``, called alternately so that both see the same
    background load (for fast, memory-bound operations where a burst of noise skews one side)."""
    ours_ns, theirs_ns = [], []
    for _ in range(repeat):
        ours_ns.append(best_call(ours, 1))
        theirs_ns.append(best_call(theirs, 1))
    return min(ours_ns), min(theirs_ns)


def report(name: str, ours: float, theirs: float, target: str, ok: bool, ratio_name: str = "time ratio") -> None:
    """Print one line with both timings and their ratio; ``ratio_name`` says which way it reads:
    ``time ratio`` is ours / theirs (lower is better), ``bandwidth`` and ``speed-up`` are theirs / ours."""
    ratio = ours / theirs if ratio_name == "time ratio" else theirs / ours
    RESULTS.append((name, ok))
    print(
        f"{name:<52} shmstruct {ours:>14,.0f} ns  baseline {theirs:>14,.0f} ns  "
        f"{ratio_name} {ratio:7.2f}x  target {target:<8} {'ok' if ok else 'MISSED'}"
    )


def note(name: str, value: str, target: str, ok: bool) -> None:
    """Print one line for a figure that is not a ratio (a rate, a size)."""
    RESULTS.append((name, ok))
    print(f"{name:<52} {value:<70} target {target:<8} {'ok' if ok else 'MISSED'}")


def summary() -> None:
    """Print which targets were missed, if any."""
    missed = [name for name, ok in RESULTS if not ok]
    print("all targets met" if not missed else f"missed: {', '.join(missed)}")
