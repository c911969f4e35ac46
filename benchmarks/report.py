"""The comparison report: shmstruct against the stdlib and PyPI alternatives, in one run.

Runs every implementation of ``peers.py`` in a fresh interpreter of its own (``--measure KEY``,
which prints its results as JSON), a few rounds in alternating order, keeps the best time of each
operation, and writes:

- ``benchmarks/results/report.md``: one table per operation, with ratios to shmstruct;
- ``docs/assets/benchmarks-*.png``: two charts of those ratios, drawn from ``report.md``'s tables
  (so ``--charts`` can redraw them later without measuring anything);
- the same tables into ``docs/benchmarks.md``, between ``<!-- results -->`` and ``<!-- /results -->``.

Run it from the benchmark venv (see README.md here)::

    .venv-bench/bin/python benchmarks/report.py            # full run: 3 rounds, about 2 minutes
    .venv-bench/bin/python benchmarks/report.py --quick    # smoke run: 1 round, about 15 s
    .venv-bench/bin/python benchmarks/report.py --charts   # redraw the charts from report.md

Only the standard library is imported at the top: spawned children of the workers import this
file as their main module.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import peers

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REPORT = HERE / "results" / "report.md"
ASSETS = ROOT / "docs" / "assets"
DOCS_PAGE = ROOT / "docs" / "benchmarks.md"
MARKERS = ("<!-- results -->", "<!-- /results -->")
RESULT_PREFIX = "RESULT "
ORDER = ["shmstruct", "value", "raw", "manager", "shm", "ultradict", "smd", "numpy", "bare"]
SHM_PREFIXES = (
    "shms_",
    "psm_",
    "sm_shmbench_",
    "sem.mp-",
)  # shmstruct, SharedMemory and UltraDict, shared-memory-dict, named locks
RATIO_TEXT = (
    "**vs shmstruct** is the implementation's time divided by shmstruct's time for the same "
    "operation: above 1× it is slower than shmstruct, below 1× faster."
)


# --------------------------------------------------------------------------- operations


@dataclass(frozen=True)
class Op:
    """One operation of the report: its table title, what it measures, and extra columns."""

    key: str
    title: str
    what: str
    columns: tuple[tuple[str, Callable[[dict[str, Any]], str]], ...] = ()
    short: str = ""

    @property
    def label(self) -> str:
        """Short name for the chart."""
        return self.short or self.title


def _final_count(result: dict[str, Any]) -> str:
    lost = result["lost"]
    return "exact" if lost == 0 else f"**{lost:,} lost updates**"


CONTENDED_COLUMNS = (
    ("processes × increments", lambda r: f"{r['increments']:,}"),
    ("wall time", lambda r: fmt_time(r["wall_ns"])),
    ("final count", _final_count),
)


def operations(array_mib: int) -> list[Op]:
    """The operations, in report order (the array size depends on --quick)."""
    return [
        Op("read", "Scalar read", "Read the int once, no lock (`timeit`, time per read).", short="scalar read"),
        Op("write", "Scalar write", "Write 7 into the int, no explicit lock (time per write).", short="scalar write"),
        Op(
            "increment",
            "Locked increment, one process",
            "Take the lock, add 1 to the int, release (time per increment, uncontended).",
            short="locked increment",
        ),
        *(
            Op(
                f"contended{n}",
                f"Contended increments, {n} processes",
                f"{n} forked processes, started together once all are ready, each run the locked increment "
                "on one shared counter; time per increment = wall time from the first one's start to the last "
                "one's end ÷ all increments (process start-up not counted). The final count is checked.",
                CONTENDED_COLUMNS,
                short=f"contended, {n} procs",
            )
            for n in (2, 4)
        ),
        Op(
            "bandwidth",
            f"Array bandwidth: np.sum over {array_mib} MiB of float64",
            f"`np.sum` over a {array_mib} MiB float64 array in shared memory, every page already touched "
            "(time per sum).",
            (("GB/s", lambda r: f"{r['gbps']:.1f}"),),
            short=f"np.sum {array_mib} MiB",
        ),
        Op(
            "create",
            "Creation: one int",
            "Create one object holding an int, with the lock its increment uses (removing it is not timed).",
            short="create (int)",
        ),
        Op(
            "create_array",
            f"Creation: a {array_mib} MiB float64 array",
            f"Create one zero-filled {array_mib} MiB float64 array in shared memory (removing it is not timed). "
            "Lazily zeroed memory pays for its pages at first touch instead.",
            short=f"create {array_mib} MiB",
        ),
        *(
            Op(
                f"child_{method}",
                f"Hand to a child: {method}",
                f"`Process.start()` to the end of `join()` under {method}, for a child that receives the object "
                "as its argument (or its name), reads the int, checks it and exits.",
                short=f"child ({method})",
            )
            for method in peers.START_METHODS
        ),
    ]


# --------------------------------------------------------------------------- running the workers


def run_worker(key: str, quick: bool, capabilities: bool) -> dict[str, Any]:
    """Measure one implementation in a fresh interpreter; its JSON result (or why it failed)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--measure", key]
    command += ["--quick"] * quick + ["--capabilities"] * capabilities
    label, short = peers.SUBJECTS[key].label, peers.SUBJECTS[key].short
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"key": key, "label": label, "short": short, "failed": "timed out after 900 s"}
    for line in done.stderr.strip().splitlines()[-20:]:
        print(f"    [{key} stderr] {line}")
    results = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not results:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"key": key, "label": label, "short": short, "failed": f"exit code {done.returncode}: {tail}"}
    result: dict[str, Any] = json.loads(results[-1][len(RESULT_PREFIX) :])
    return result


def run_rounds(rounds: int, quick: bool) -> list[list[dict[str, Any]]]:
    """Every implementation once per round, the order reversed every other round so that slow
    drifts of the machine's load do not always favour the same ones. The Pool check runs in the
    first round only."""
    all_rounds = []
    for number in range(rounds):
        order = ORDER if number % 2 == 0 else ORDER[::-1]
        results = []
        for key in order:
            start = time.perf_counter()
            result = run_worker(key, quick, capabilities=number == 0)
            status = result.get("skipped") or result.get("failed") or "ok"
            print(f"round {number + 1}/{rounds}: {key:<10} {time.perf_counter() - start:6.1f} s  {status}", flush=True)
            results.append(result)
        all_rounds.append(results)
    return all_rounds


def merge(all_rounds: list[list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """One result per implementation: per operation the best time over the rounds (for the
    contended lines, lost updates are the most seen in any round)."""
    merged: dict[str, dict[str, Any]] = {}
    for key in ORDER:
        runs = [r for results in all_rounds for r in results if r["key"] == key]
        good = [r for r in runs if "ops" in r]
        if not good:
            merged[key] = runs[0]
            continue
        base = dict(good[0])
        base["ops"] = {}
        for op in {op for r in good for op in r["ops"]}:
            tries = [r["ops"][op] for r in good if op in r["ops"]]
            timed = [t for t in tries if "ns" in t]
            if not timed:
                base["ops"][op] = tries[-1]
                continue
            best = dict(min(timed, key=lambda t: t["ns"]))
            if "lost" in best:
                best["lost"] = max(t["lost"] for t in timed)
            base["ops"][op] = best
        base["leaked"] = sorted({name for r in good for name in r.get("leaked", [])})
        merged[key] = base
    return merged


# --------------------------------------------------------------------------- formatting


def fmt_time(ns: float) -> str:
    """A duration with a unit that keeps 3 significant digits readable."""
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def fmt_ratio(ratio: float) -> str:
    return f"{ratio:.2f}×" if ratio < 10 else f"{ratio:.0f}×" if ratio >= 100 else f"{ratio:.1f}×"


def ratio_of(merged: dict[str, dict[str, Any]], key: str, op: str) -> float | None:
    """Time of ``key`` ÷ time of shmstruct for ``op``, if both were measured."""
    ours = merged.get("shmstruct", {}).get("ops", {}).get(op, {}).get("ns")
    theirs = merged.get(key, {}).get("ops", {}).get(op, {}).get("ns")
    return theirs / ours if ours and theirs else None


def _cell_rows(op: Op, merged: dict[str, dict[str, Any]]) -> tuple[list[list[str]], list[str]]:
    """Table rows of one operation, and its notes (n/a, skipped, failed, lost updates)."""
    rows, notes = [], []
    for key, result in merged.items():
        label = result["label"]
        name = f"**{label}**" if key == "shmstruct" else label
        found = result.get("ops", {}).get(op.key)
        reason = result.get("not_applicable", {}).get(op.key)
        blank = [""] * len(op.columns)
        if "skipped" in result or "failed" in result:
            if result.get("reference"):
                continue
            rows.append([name, "", "skipped" if "skipped" in result else "failed", "", *blank])
            continue
        if found is None:
            if reason:
                rows.append([name, "", "n/a", "", *blank])
                notes.append(f"{label}: n/a, {reason}.")
            continue
        if "error" in found:
            rows.append([name, "", "failed", "", *blank])
            notes.append(f"{label}: failed: `{found['error']}`.")
            continue
        ratio = ratio_of(merged, key, op.key)
        code = f"`{found['code']}`" if found.get("code") else ""
        extra = [fmt(found) for _, fmt in op.columns]
        rows.append([name, code, fmt_time(found["ns"]), fmt_ratio(ratio) if ratio else "", *extra])
        if found.get("lost"):
            how = "it takes no lock" if not found.get("locked", True) else "its lock did not exclude the others"
            notes.append(f"{label}: the count is short by {found['lost']:,} of {found['increments']:,}: {how}.")
    return rows, notes


def table(op: Op, merged: dict[str, dict[str, Any]], level: int) -> str:
    """The markdown section of one operation."""
    head = ["implementation", "code", "time", "vs shmstruct", *(name for name, _ in op.columns)]
    rows, notes = _cell_rows(op, merged)
    lines = [f"{'#' * level} {op.title}", "", op.what, "", _md_row(head), _md_row(["---"] * len(head))]
    lines += [_md_row(row) for row in rows]
    if notes:
        lines += [""] + [f"- {note}" for note in notes]
    return "\n".join(lines)


def _md_row(cells: Iterable[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def passing_table(merged: dict[str, dict[str, Any]], level: int) -> str:
    """Which objects reach a child: as a Process argument (the timings above, object made by the
    child's context), across contexts, and as a Pool task argument (always pickled)."""
    methods = peers.START_METHODS
    head = [
        "implementation",
        *(f"Process arg, {m}" for m in methods),
        "Process arg, spawn, object made by the fork context",
        *(f"Pool task arg, {m}" for m in methods),
    ]
    lines = [
        f"{'#' * level} Passing the object to a child",
        "",
        "Each stdlib object is made by the same context (`ctx = mp.get_context(method)`, `ctx.Value`, "
        "`ctx.Lock`) as the child, except in the cross-context column. A `Process` argument under fork is "
        "inherited, not pickled; a `Pool` task argument is always pickled, as is anything sent through a "
        '`Queue` or a `Pipe`. "yes": the child read the right value.',
        "",
        _md_row(head),
        _md_row(["---"] * len(head)),
    ]
    reasons: dict[str, str] = {}
    for result in merged.values():
        if result.get("reference") or "ops" not in result:
            continue
        answers = result.get("passing", {})
        timed = [result["ops"].get(f"child_{m}", {}) for m in methods]
        cells = [
            *("yes" if "ns" in found else found.get("error", "not measured") for found in timed),
            answers.get("other_context", "not checked"),
            *(answers.get(f"pool_{m}", "not checked") for m in methods),
        ]
        lines.append(_md_row([result["label"], *(_reason_cell(cell, reasons) for cell in cells)]))
    lines += [""] + [f"- ({number}) `{reason}`" for reason, number in reasons.items()]
    return "\n".join(lines).rstrip()


def _reason_cell(answer: str, reasons: dict[str, str]) -> str:
    """ "yes", or "no (n)" with the reason numbered once in ``reasons``."""
    if answer == "yes":
        return answer
    reason = answer.removeprefix("no: ")
    number = reasons.setdefault(reason, str(len(reasons) + 1))
    return f"no ({number})"


def machine_line(quick: bool, rounds: int, load: float, seconds: float) -> str:
    """Where and when the numbers were taken."""
    cpu = _cpu_model()
    parts = [
        datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        f"{os.cpu_count()} CPUs{f' ({cpu})' if cpu else ''}",
        f"Linux {platform.release()}",
        f"Python {platform.python_version()}",
        *(
            f"{name} {_version(name)}"
            for name in ("numpy", *(d for s in peers.SUBJECTS.values() for d in s.distributions))
        ),
        f"{'quick' if quick else 'full'} run, best of {rounds} round{'s' * (rounds > 1)} ({seconds:.0f} s)",
        f"load average {load:.2f} at the start",
    ]
    return " · ".join(parts)


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            return next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        return ""


def results_markdown(merged: dict[str, dict[str, Any]], ops: list[Op], header: str, level: int) -> str:
    """Everything the report shows: the machine, how to read the ratios, one table per
    operation, the passing matrix, and the notes on skipped peers."""
    parts = [header, "", RATIO_TEXT]
    skipped = [f"- {r['label']}: {r.get('skipped') or r.get('failed')}" for r in merged.values() if "ops" not in r]
    if skipped:
        parts += ["", "Not measured:", *skipped]
    notes = [f"- {note}" for r in merged.values() for note in r.get("notes", [])]
    if notes:
        parts += ["", *notes]
    parts += ["", *(table(op, merged, level) + "\n" for op in ops), passing_table(merged, level)]
    return "\n".join(parts).rstrip() + "\n"


# --------------------------------------------------------------------------- the charts
#
# The charts are drawn from the tables of report.md (the ratios as the tables print them), so that
# they show exactly the published numbers and can be redrawn without measuring (--charts). They are
# sized for the docs' column (about 700 px): 8.4 inches wide, two panels a row, fonts of 9.5-12 pt,
# saved at 200 dpi so that the full-size image (the page links to it) stays sharp when zoomed.


@dataclass(frozen=True)
class Bar:
    """One implementation's line in a panel: its ratio to shmstruct, or why it has none."""

    key: str
    label: str
    ratio: float | None
    text: str  # the ratio as the table prints it, or "n/a", "skipped", "failed"
    lost: bool = False


@dataclass(frozen=True)
class Chart:
    """One image: a title and the operations it shows, one panel each (two panels a row, whose
    lines are the same implementations)."""

    file: str
    title: str
    ops: tuple[str, ...]  # Op keys


CHARTS = (
    Chart(
        "benchmarks-operations.png",
        "Reads, writes, increments, creation",
        ("read", "write", "increment", "create", "contended2", "contended4"),
    ),
    Chart(
        "benchmarks-arrays-and-children.png",
        "Arrays, and handing the object to a child",
        ("bandwidth", "create_array", "child_fork", "child_spawn", "child_forkserver"),
    ),
)

CHART_CAPTION = (
    "Each bar runs from shmstruct (1×) to the other's time ÷ shmstruct's (log scale): right of the "
    "line is slower than shmstruct, left of it faster. Hatched: updates were lost (no lock); "
    "n/a: the operation does not apply; (ref.): a reference point, not a way to share state."
)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def panels_from_report(text: str, ops: list[Op]) -> dict[str, list[Bar]]:
    """The bars of each operation, read back from the tables of report.md."""
    keys = {subject.label: key for key, subject in peers.SUBJECTS.items()}
    by_title = {op.title: op for op in ops}
    panels: dict[str, list[Bar]] = {}
    bars: list[Bar] | None = None
    head: list[str] = []
    for line in text.splitlines():
        if line.startswith("#"):
            op = by_title.get(line.lstrip("#").strip())
            bars = panels.setdefault(op.key, []) if op else None
            head = []
        elif bars is not None and line.startswith("|"):
            cells = _cells(line)
            if not head:
                head = cells
                continue
            if set(line) <= set("|- "):
                continue
            row = dict(zip(head, cells, strict=False))
            label = row["implementation"].strip("*")
            key = keys.get(label)
            if key is None or key == "shmstruct":
                continue
            ratio_text = row.get("vs shmstruct", "")
            ratio = float(ratio_text.rstrip("×")) if ratio_text else None
            lost = "lost updates" in row.get("final count", "")
            bars.append(Bar(key, peers.SUBJECTS[key].short, ratio, ratio_text or row["time"], lost))
    return panels


def charts_from_report() -> list[Path]:
    """Draw every chart from benchmarks/results/report.md; the files written."""
    text = REPORT.read_text()
    header = next((line for line in text.splitlines() if line[:4].isdigit()), "")
    quick = " quick run" in header
    ops = operations((peers.QUICK if quick else peers.FULL).array_bytes // peers.MiB)
    panels = panels_from_report(text, ops)
    labels = {op.key: op.label for op in ops}
    written = []
    for spec in CHARTS:
        path = ASSETS / spec.file
        draw_chart(spec, [(labels[key], panels.get(key, [])) for key in spec.ops], path, header)
        written.append(path)
    return written


def draw_chart(spec: Chart, panels: list[tuple[str, list[Bar]]], path: Path, subtitle: str) -> None:
    """Two panels a row, one per operation: a bar from 1 (shmstruct) to each ratio, log scale. The
    panels of a row share their lines, named once, on the left."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [key for key in peers.SUBJECTS if key != "shmstruct"]
    colours = {key: "0.6" if peers.SUBJECTS[key].reference else plt.get_cmap("tab10")(i) for i, key in enumerate(keys)}
    columns = 2
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(8.4, 2.3 * rows + 1.5), squeeze=False)
    for row in range(rows):
        in_row = panels[row * columns : (row + 1) * columns]
        present = {bar.key for _, bars in in_row for bar in bars}
        lines = [key for key in keys if key in present]
        labels = {bar.key: bar.label for _, bars in in_row for bar in bars}
        for column, ax in enumerate(axes[row]):
            if column >= len(in_row):
                ax.axis("off")
                continue
            title, bars = in_row[column]
            _panel(ax, title, {bar.key: bar for bar in bars}, lines, colours)
            ax.set_yticks(range(len(lines)), [labels[key] for key in reversed(lines)] if column == 0 else [])
    fig.suptitle(f"{spec.title}: time relative to shmstruct", fontsize=13.5, fontweight="bold", y=0.995)
    fig.text(0.5, 0.955, textwrap.fill(CHART_CAPTION, 92), ha="center", va="top", fontsize=9.5)
    fig.text(0.5, 0.004, textwrap.fill(subtitle, 130), ha="center", va="bottom", fontsize=7.5, color="dimgray")
    fig.tight_layout(rect=(0, 0.035, 1, 0.95), h_pad=1.2, w_pad=0.8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=200)
    plt.close(fig)


def _panel(ax: Any, title: str, bars: dict[str, Bar], lines: list[str], colours: dict[str, Any]) -> None:
    """The bars of one operation on the given lines, top to bottom; a line without a ratio says
    why (or stays empty: the operation does not concern it)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ratios = [bar.ratio for bar in bars.values() if bar.ratio]
    for y, key in enumerate(reversed(lines)):
        bar = bars.get(key)
        if bar is None:
            continue
        if not bar.ratio:
            ax.text(1, y, f"  {bar.text}", va="center", fontsize=10, color="dimgray")
            continue
        ax.barh(
            y,
            bar.ratio - 1,
            left=1,
            height=0.7,
            color=colours[key],
            hatch="///" if bar.lost else None,
            edgecolor="black",
            linewidth=0.4,
        )
        text = f" {bar.text}{' lost' if bar.lost else ''} "
        ax.text(bar.ratio, y, text, va="center", ha="left" if bar.ratio >= 1 else "right", fontsize=10)
    ax.set_xscale("log")
    ax.set_xlim(min([*ratios, 1.0]) / 10, max([*ratios, 1.0]) * 14)
    ax.xaxis.set_major_locator(LogLocator(base=10, numticks=5))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}×"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.axvline(1, color="black", linewidth=1.2)
    ax.set_ylim(-0.6, len(lines) - 0.4)
    ax.tick_params(axis="y", labelsize=10.5, length=0)
    ax.set_title(title, fontsize=12, fontweight="bold")
    ax.tick_params(axis="x", labelsize=10)
    ax.grid(axis="x", which="major", alpha=0.3)


# --------------------------------------------------------------------------- writing


def update_docs_page(section: str) -> bool:
    """Replace what stands between the markers of docs/benchmarks.md; False if they are missing."""
    if not DOCS_PAGE.exists():
        return False
    text = DOCS_PAGE.read_text()
    start, end = text.find(MARKERS[0]), text.find(MARKERS[1])
    if start < 0 or end < start:
        return False
    DOCS_PAGE.write_text(text[: start + len(MARKERS[0])] + "\n\n" + section + "\n" + text[end:])
    return True


def shm_entries() -> set[str]:
    """Entries of /dev/shm that this benchmark's implementations could create."""
    try:
        return {name for name in os.listdir("/dev/shm") if name.startswith(SHM_PREFIXES)}
    except OSError:
        return set()


def report(quick: bool, rounds: int) -> None:
    """Run everything, then write the report, the charts and the docs tables."""
    started, load = time.perf_counter(), os.getloadavg()[0]
    before = shm_entries()
    merged = merge(run_rounds(rounds, quick))
    array_mib = (peers.QUICK if quick else peers.FULL).array_bytes // peers.MiB
    ops = operations(array_mib)
    header = machine_line(quick, rounds, load, time.perf_counter() - started)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    command = f".venv-bench/bin/python benchmarks/report.py{' --quick' * quick}"
    REPORT.write_text(
        f"# shmstruct benchmark report\n\nGenerated by `{command}`.\n\n" + results_markdown(merged, ops, header, 2)
    )
    charts = charts_from_report()
    docs = update_docs_page(results_markdown(merged, ops, header, 3))
    print(
        f"wrote {REPORT.relative_to(ROOT)}, "
        + ", ".join(str(path.relative_to(ROOT)) for path in charts)
        + (f", {DOCS_PAGE.relative_to(ROOT)}" if docs else "")
    )
    if not docs:
        print(f"note: {DOCS_PAGE.relative_to(ROOT)} has no {MARKERS[0]} ... {MARKERS[1]} markers: not updated")
    _print_summary(merged, ops)
    _check_leaks(merged, before)
    print(f"total time {time.perf_counter() - started:.0f} s")


def _print_summary(merged: dict[str, dict[str, Any]], ops: list[Op]) -> None:
    print("\nratios (time / shmstruct's time):")
    keys = [k for k in merged if k != "shmstruct" and "ops" in merged[k]]
    print(f"{'':<24}" + "".join(f"{k:>11}" for k in keys))
    for op in ops:
        cells = [ratio_of(merged, k, op.key) for k in keys]
        print(f"{op.label:<24}" + "".join(f"{fmt_ratio(c) if c else '-':>11}" for c in cells))
    for result in merged.values():
        if "ops" not in result:
            print(f"not measured: {result['label']}: {result.get('skipped') or result.get('failed')}")


def _check_leaks(merged: dict[str, dict[str, Any]], before: set[str]) -> None:
    leaked = sorted({name for r in merged.values() for name in r.get("leaked", [])})
    if leaked:
        print(f"LEAKED (created by the workers, still in /dev/shm): {', '.join(leaked)}")
    appeared = sorted(shm_entries() - before)
    if appeared:
        print(f"new in /dev/shm since the start (may belong to other processes): {', '.join(appeared)}")
    if not leaked and not appeared:
        print("/dev/shm: nothing left behind")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--quick", action="store_true", help="a fast smoke run: fewer iterations, 8 MiB arrays, 1 round"
    )
    parser.add_argument("--rounds", type=int, help="rounds over all implementations (default: 3, 1 with --quick)")
    parser.add_argument(
        "--charts", action="store_true", help="only redraw the charts from benchmarks/results/report.md (no measuring)"
    )
    parser.add_argument("--measure", metavar="KEY", choices=list(peers.SUBJECTS), help=argparse.SUPPRESS)
    parser.add_argument("--capabilities", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:  # a worker: one implementation, results as one JSON line
        result = peers.measure(args.measure, args.quick, args.capabilities)
        print(RESULT_PREFIX + json.dumps(result), flush=True)
        return
    if args.charts:
        print("wrote " + ", ".join(str(path.relative_to(ROOT)) for path in charts_from_report()))
        return
    report(args.quick, args.rounds or (1 if args.quick else 3))


if __name__ == "__main__":
    main()
