"""Start-up benchmarks (issue 11, lazy imports): what ``import shmstruct`` costs and pulls in, and
what handing a struct to a spawn (or forkserver) child costs against a bare child, side by side.

Run: ``python benchmarks/bench_startup.py`` (see README.md here), ``--quick`` for a smoke run.

Every measurement runs in fresh interpreters: this process never imports shmstruct. The children
are started by a worker interpreter, twice: run with ``-c``, which has no main script, so that a
child pays only for what it is handed; and run as a tiny main script (``_startup_main.py``,
which imports nothing), as every real program is: a spawned child then re-imports the script
(as ``__mp_main__``) through :mod:`runpy`, which on Python 3.11+ imports :mod:`typing` among
others, and a bare child pays that too.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from _startup_bare import HEAVY
from measure import note, report, summary

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VALUE = 42  # what every struct child must read
METHODS = ("spawn", "forkserver")
RESULT_PREFIX = "RESULT "
CREATED: list[str] = []  # names of the segments this run created, checked for leftovers at the end

# One fresh interpreter: which heavy modules are loaded at each step of a schema without arrays.
STAGES = f"""
import sys
heavy = {HEAVY!r}
rows = [("fresh interpreter (python -c pass)", [m in sys.modules for m in heavy])]
import shmstruct
rows.append(("after import shmstruct", [m in sys.modules for m in heavy]))
from shmstruct import Atomic, SharedStruct, atomic, text

class Counter(SharedStruct):
    value: int = 0
    label: str = text(16)
    hits: Atomic[int] = atomic()

rows.append(("after defining Counter (int, text(16), Atomic[int])", [m in sys.modules for m in heavy]))
with Counter() as s:
    s.value += 1
rows.append(("after creating one: with Counter() as s", [m in sys.modules for m in heavy]))
import json
print(json.dumps({{"rows": rows, "name": shmstruct.segment_name(s)}}))
"""


def median(values: list[float]) -> float:
    """The median of ``values``."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def alternated(sides: list[str], round_number: int) -> list[str]:
    """The sides in this round's order: reversed every other round, so that no side always runs
    right after the same other one."""
    return sides if round_number % 2 == 0 else sides[::-1]


def shm_entries() -> set[str]:
    """shmstruct's entries in /dev/shm (other processes on the machine may own some)."""
    try:
        return {name for name in os.listdir("/dev/shm") if name.startswith("shms_")}
    except OSError:
        return set()


def check_leftovers(before: set[str]) -> None:
    """Say whether a segment this run created is still in /dev/shm, and what else appeared."""
    mine = sorted(f"shms_{name}" for name in CREATED)
    left = [entry for entry in mine if os.path.exists(f"/dev/shm/{entry}")]
    print(f"LEFT in /dev/shm: {', '.join(left)}" if left else f"/dev/shm: the {len(mine)} segments created are gone")
    others = sorted(shm_entries() - before - set(mine))
    if others:
        print(f"  {len(others)} new shms_ entries are not this run's (other processes made them)")


def yes_no_table(title: str, rows: Iterable[tuple[str, list[bool]]]) -> None:
    """Print which of ``HEAVY`` are in ``sys.modules``, one row per situation."""
    widths = [len(name) + 3 for name in HEAVY]
    print(f"{title:<56}" + "".join(f"{name:>{width}}" for name, width in zip(HEAVY, widths, strict=True)))
    for label, flags in rows:
        print(
            f"  {label:<54}"
            + "".join(f"{'yes' if flag else 'no':>{width}}" for flag, width in zip(flags, widths, strict=True))
        )


# --------------------------------------------------------------------------- import shmstruct


def _python(*arguments: str) -> subprocess.CompletedProcess[str]:
    """Run a fresh interpreter with ``arguments``; its output, or exit showing its error."""
    done = subprocess.run([sys.executable, *arguments], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"python {' '.join(arguments)[:60]}... failed:\n{done.stderr}")
    return done


def _wall(code: str) -> float:
    """Seconds for a fresh interpreter to run ``code`` and exit."""
    start = time.perf_counter()
    _python("-c", code)
    return time.perf_counter() - start


def bench_import(repeat: int) -> None:
    """Wall time of ``python -c "import shmstruct"`` against ``python -c pass``, alternated."""
    codes = {"pass": "pass", "import": "import shmstruct"}
    for code in codes.values():
        _wall(code)  # warm-up: byte-code caches and the page cache
    times: dict[str, list[float]] = {side: [] for side in codes}
    for number in range(repeat):
        for side in alternated(list(codes), number):
            times[side].append(_wall(codes[side]))
    ours, theirs = median(times["import"]), median(times["pass"])
    report("python -c 'import shmstruct' (vs python -c pass)", ours * 1e9, theirs * 1e9, "info", True)
    note(
        "  import shmstruct adds (median; best)",
        f"{(ours - theirs) * 1e3:.1f} ms; {(min(times['import']) - min(times['pass'])) * 1e3:.1f} ms",
        "info",
        True,
    )


def import_breakdown(runs: int) -> None:
    """``-X importtime`` of ``import shmstruct``: cumulative ms of shmstruct and of each heavy
    module where it is first imported (best of ``runs``), and of the editable-install finder."""
    best: dict[str, float] = {}
    for _ in range(runs):
        seen: dict[str, float] = {}
        for line in _python("-X", "importtime", "-c", "import shmstruct").stderr.splitlines():
            parts = line.removeprefix("import time:").split("|")
            if len(parts) != 3 or not parts[1].strip().isdigit():
                continue
            name = parts[2].strip()
            depth = (len(parts[2]) - len(parts[2].lstrip()) - 1) // 2
            key = "editable finder" if name.startswith("__editable__") else name
            wanted = key in ("shmstruct", "editable finder", *HEAVY) or (depth == 1 and key.startswith("shmstruct."))
            if wanted and key not in seen:
                seen[key] = int(parts[1]) / 1e3
        for key, ms in seen.items():
            best[key] = min(ms, best.get(key, ms))
    found = " · ".join(f"{name} {best[name]:.1f}" if name in best else f"{name} -" for name in ("shmstruct", *HEAVY))
    print(
        f"-X importtime of import shmstruct, best of {runs} "
        "(cumulative ms, each where first imported; nested ones overlap):"
    )
    print(f"  {found}")
    own = sorted((ms, key) for key, ms in best.items() if key.startswith("shmstruct."))[::-1][:6]
    print("  heaviest of shmstruct's own modules: " + " · ".join(f"{key[10:]} {ms:.1f}" for ms, key in own))
    if "editable finder" in best:
        print(
            f"  the editable-install finder: {best['editable finder']:.1f} ms at every interpreter's start "
            "(both sides pay it; a wheel install does not)"
        )


def modules_after_import() -> None:
    """Which heavy modules a fresh interpreter holds after each step; the issue's targets: no
    numpy and no pydantic after ``import shmstruct`` and after defining a schema without arrays."""
    stages = json.loads(_python("-c", STAGES).stdout)
    CREATED.append(stages["name"])
    rows = [(label, flags) for label, flags in stages["rows"]]
    print()
    yes_no_table("in sys.modules (a fresh interpreter, step by step):", rows)
    print()
    for label, flags in rows[1:3]:
        loaded = dict(zip(HEAVY, flags, strict=True))
        found = [name for name in ("numpy", "pydantic") if loaded[name]]
        note(
            f"{label.split(' (')[0]}: numpy, pydantic",
            "imported: " + ", ".join(found) if found else "neither imported",
            "neither",
            not found,
        )


# --------------------------------------------------------------------------- children


def _start_child(ctx: Any, target: Callable[..., None], args: tuple[Any, ...]) -> tuple[float, float, list[bool]]:
    """Seconds from ``start()`` to the child's signal and to the end of ``join()``, and which
    heavy modules the child held when it signalled."""
    reader, writer = ctx.Pipe(duplex=False)
    child = ctx.Process(target=target, args=(*args, writer))
    start = time.perf_counter()
    child.start()
    writer.close()  # the child has its own copy: if it dies, recv() raises instead of waiting
    try:
        if not reader.poll(120):
            raise RuntimeError("the child did not signal within 120 s")
        value, modules = reader.recv()
        running = time.perf_counter() - start
    finally:
        child.join(120)
        reader.close()
    exited = time.perf_counter() - start
    if child.exitcode != 0 or value not in (None, VALUE):
        raise RuntimeError(f"the child exited with {child.exitcode} after reading {value!r}")
    return running, exited, list(modules)


def child_times(method: str, repeat: int) -> dict[str, Any]:
    """(In the worker.) Start a bare child, a child handed a ``Counter`` and one handed a ``Grid``
    (array field) under ``method``, ``repeat`` times each, alternated: their times in seconds, the
    modules each kind of child held, and the names of the segments made."""
    import multiprocessing as mp

    import _startup_array
    import _startup_bare
    import _startup_struct

    import shmstruct

    ctx = mp.get_context(method)
    counter = _startup_struct.Counter(value=VALUE)
    grid = _startup_array.Grid(value=VALUE - 2)
    try:
        grid.data[0] = 2
        sides: dict[str, tuple[Callable[..., None], tuple[Any, ...]]] = {
            "bare": (_startup_bare.bare, ()),
            "struct": (_startup_struct.read, (counter,)),
            "array": (_startup_array.read, (grid,)),
        }
        for target, args in sides.values():
            _start_child(ctx, target, args)  # warm-up: the forkserver, the resource tracker, byte-code caches
        out: dict[str, Any] = {
            "running": {},
            "exited": {},
            "modules": {},
            "names": [shmstruct.segment_name(counter), shmstruct.segment_name(grid)],
        }
        for side in sides:
            out["running"][side], out["exited"][side] = [], []
        for number in range(repeat):
            for side in alternated(list(sides), number):
                up, done, out["modules"][side] = _start_child(ctx, *sides[side])
                out["running"][side].append(up)
                out["exited"][side].append(done)
    finally:
        shmstruct.close(counter)
        shmstruct.close(grid)
    return out


def worker(repeat: int) -> None:
    """(The worker interpreter's job.) Print the children's results of every method as one JSON line."""
    print(RESULT_PREFIX + json.dumps({method: child_times(method, repeat) for method in METHODS}), flush=True)


def bench_children(repeat: int, script: bool) -> list[tuple[str, list[bool]]]:
    """Run the worker (from a main script, or with ``-c``), print the children's lines (the spawn
    one against its target) and return the modules each kind of child held."""
    if script:
        command = [sys.executable, str(HERE / "_startup_main.py"), str(repeat)]
    else:
        code = f"import sys; sys.path.insert(0, {str(HERE)!r}); import bench_startup; bench_startup.worker({repeat})"
        command = [sys.executable, "-c", code]
    where = "main script" if script else "python -c"
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    found = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not found:
        raise SystemExit(f"the worker that starts the children failed (exit code {done.returncode}); see above")
    results: dict[str, dict[str, Any]] = json.loads(found[-1][len(RESULT_PREFIX) :])
    rows: list[tuple[str, list[bool]]] = []
    for method, result in results.items():
        CREATED.extend(result["names"])
        running, exited = result["running"], result["exited"]
        ours, theirs = median(running["struct"]) * 1e9, median(running["bare"]) * 1e9
        # The target figure pairs each round's struct child with the bare child started right
        # before or after it: a shared machine's speed drifts over a run, and a ratio of two
        # medians taken seconds apart carries that drift; the median of paired ratios does not.
        paired = median([ours / theirs for ours, theirs in zip(running["struct"], running["bare"], strict=True)])
        target, ok = ("<= 1.2x", paired <= 1.2) if method == "spawn" else ("info", True)
        note(
            f"{method} child handed a Counter (vs bare), {where}",
            f"{paired:.2f}x (median of {len(running['bare'])} paired runs)",
            target,
            ok,
        )
        report("  medians of the runs (vs bare's)", ours, theirs, "info", True)
        best_ours, best_theirs = min(running["struct"]) * 1e9, min(running["bare"]) * 1e9
        report("  best of the runs (vs bare's best)", best_ours, best_theirs, "info", True)
        exit_ours, exit_theirs = median(exited["struct"]) * 1e9, median(exited["bare"]) * 1e9
        report("  start to exit, median (vs bare)", exit_ours, exit_theirs, "info", True)
        report(f"{method} child handed a Grid, array (vs bare)", median(running["array"]) * 1e9, theirs, "info", True)
        labels = {"bare": "bare (nothing passed)", "struct": "handed a Counter (no arrays)", "array": "handed a Grid"}
        rows += [(f"{method} child, {where}, {labels[side]}", flags) for side, flags in result["modules"].items()]
    return rows


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few repeats (a smoke run)")
    args = parser.parse_args()
    imports, children, importtime_runs = (3, 3, 1) if args.quick else (20, 60, 5)
    versions = ", ".join(f"{name} {importlib.metadata.version(name)}" for name in ("shmstruct", "numpy", "pydantic"))
    print(
        f"Python {sys.version.split()[0]}, {versions}; {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.2f}; medians of {imports} (imports) and {children} (children) alternated runs"
    )
    before = shm_entries()
    bench_import(imports)
    import_breakdown(importtime_runs)
    modules_after_import()
    print(
        "\nchildren: Process.start() to the child's signal through a pipe (it has unpickled its argument and read "
        "the int), medians;\n  then it closes the struct and exits. Counter: value: int, label: text(16), hits: "
        "Atomic[int]; Grid: value: int, data: array(1024)"
    )
    rows = bench_children(children, script=False)
    rows += bench_children(children, script=True)
    print()
    yes_no_table("in sys.modules of the child when it signals:", rows)
    print()
    summary()
    check_leftovers(before)


if __name__ == "__main__":
    main()
