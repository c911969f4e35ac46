"""A monitoring process that attaches by name.

The main program runs a small simulation in a named shared struct. A separate monitor program,
started on its own (not a multiprocessing child: it could be run by hand from another terminal
with ``python examples/monitor.py --monitor NAME``), attaches by the name alone and samples the
live values. At the end the main program shows the same struct with ``python -m shmstruct show``,
which reads it without importing this file.

Run: python examples/monitor.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
from numpy.typing import NDArray

import shmstruct
from shmstruct import SharedStruct, array, text


class Simulation(SharedStruct):
    step: int = 0
    energy: float = 0.0
    phase: str = text(12, "idle")
    histogram: NDArray[np.int64] = array(8)


def monitor(name: str, samples: int) -> None:
    """Attach by name and print a few consistent samples of the live simulation."""
    sim = shmstruct.attach(Simulation, name)
    for _ in range(samples):
        snap = shmstruct.snapshot(sim)
        print(
            f"monitor: step {snap.step:6}  energy {snap.energy:10.3f}  phase {snap.phase:8}",
            f" histogram {snap.histogram.sum():7}",
            flush=True,
        )
        time.sleep(0.1)  # a sampling period, not a synchronisation


def simulate(sim: Simulation, stop: threading.Event) -> None:
    rng = np.random.default_rng(0)
    sim.phase = "running"
    while not stop.is_set():
        values = rng.normal(size=1000)
        counts, _ = np.histogram(values, bins=8, range=(-4, 4))
        with sim.lock:  # the monitor's snapshot sees whole steps
            sim.step += 1
            sim.energy = float(np.square(values).mean())
            sim.histogram += counts
    sim.phase = "stopped"


def main() -> None:
    sim = shmstruct.options(Simulation, name=f"monitor-demo-{os.getpid()}")()
    name = shmstruct.segment_name(sim)
    stop = threading.Event()
    worker = threading.Thread(target=simulate, args=(sim, stop))
    worker.start()
    watcher = subprocess.run(
        [sys.executable, __file__, "--monitor", name, "5"], capture_output=True, text=True, timeout=60
    )
    stop.set()
    worker.join()
    print(watcher.stdout, end="")
    print(f"main: stopped at step {sim.step}; the monitor attached by name and left the segment alone")
    shown = subprocess.run(
        [sys.executable, "-m", "shmstruct", "show", name], capture_output=True, text=True, timeout=60
    )
    print("python -m shmstruct show:", shown.stdout, sep="\n", end="")
    assert watcher.returncode == 0 and shown.returncode == 0 and watcher.stdout.count("monitor:") == 5


if __name__ == "__main__":
    if sys.argv[1:2] == ["--monitor"]:
        monitor(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 10)
    else:
        main()
