"""python -m shmstruct list / show / watch / remove, run as a user would, with no user code importable."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys

import numpy as np
from array_helpers import Entry, Particle, entry_values
from helpers import JOIN_TIMEOUT, SOURCE_PATH, segment_exists, unique_name
from state_helpers import State


def cli(*args: str, cwd: pathlib.Path) -> subprocess.CompletedProcess[str]:
    """Run the command line from an empty directory: only the shmstruct package is importable."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(SOURCE_PATH)}
    return subprocess.run(
        [sys.executable, "-m", "shmstruct", *args],
        capture_output=True,
        text=True,
        timeout=JOIN_TIMEOUT,
        cwd=cwd,
        env=env,
    )


def test_list_shows_the_live_segments(tmp_path: pathlib.Path) -> None:
    list_state, list_table = unique_name("cli-list-state"), unique_name("cli-list-table")
    s = State.options(name=list_state)(steps=3)
    table = Particle.table(10, name=list_table)
    text = cli("list", cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    lines = {line.split()[0]: line.split() for line in text.stdout.splitlines()[1:]}
    assert lines[list_state][1:3] == ["struct", "State"] and str(os.getpid()) in lines[list_state]
    assert lines[list_table][1:3] == ["table", "Particle"]
    entries = {e["name"]: e for e in json.loads(cli("list", "--json", cwd=tmp_path).stdout)}
    mine = entries[list_state]
    assert (mine["kind"], mine["schema"], mine["creator"], mine["alive"], mine["users"], mine["keep"]) == (
        "struct", "State", os.getpid(), True, 1, False
    )  # fmt: skip
    assert entries[list_table]["size"] == table._block.size and s.steps == 3


def test_show_prints_current_values_as_json(tmp_path: pathlib.Path) -> None:
    show_state = unique_name("cli-show-state")
    s = State.options(name=show_state)(steps=7, label="héllo")
    s.grid[1] = [1.0, 2.0, 3.0]
    s.origin.y = -2.5
    shown = json.loads(cli("show", show_state, cwd=tmp_path).stdout)
    assert (shown["kind"], shown["schema"], shown["creator"], shown["lock_holder"]) == (
        "struct",
        "State",
        os.getpid(),
        None,
    )
    values = shown["values"]
    assert values["steps"] == 7 and values["label"] == "héllo" and values["running"] is True
    assert values["grid"][1] == [1.0, 2.0, 3.0] and values["origin"] == {"x": 0.0, "y": -2.5, "z": 0.0}
    assert values["budget"] == 50 and values["temperature"] == 20.0


def test_show_tables_and_ring_logs(tmp_path: pathlib.Path) -> None:
    show_table, show_ring = unique_name("cli-show-table"), unique_name("cli-show-ring")
    table = Particle.table(30, name=show_table)
    table.column("x")[:] = np.arange(30)
    shown = json.loads(cli("show", show_table, "--rows", "3", cwd=tmp_path).stdout)
    assert shown["rows"] == 30 and shown["more_rows"] == 27
    assert [row["x"] for row in shown["values"]] == [0.0, 1.0, 2.0]
    ring = Entry.log(3, ring=True, name=show_ring)
    for seq in range(5):
        ring.append(**entry_values(1, seq))
    shown = json.loads(cli("show", show_ring, "--rows", "-1", cwd=tmp_path).stdout)
    assert (shown["capacity"], shown["appended"], shown["rows"]) == (3, 5, 3)
    assert [row["tag"] for row in shown["values"]] == ["w1-s2", "w1-s3", "w1-s4"]  # oldest first
    assert shown["values"][0]["where"] == {"x": 1.0, "y": 2.0, "z": 1.0}


def test_unknown_names_are_reported(tmp_path: pathlib.Path) -> None:
    no_such_segment = unique_name("cli-no-such-segment")
    result = cli("show", no_such_segment, cwd=tmp_path)
    assert result.returncode == 1 and f"no shared segment named {no_such_segment!r}" in result.stderr
    result = cli("show", "a/b", cwd=tmp_path)
    assert result.returncode == 1 and "may only hold letters" in result.stderr


def test_watch_refreshes_until_ctrl_c(tmp_path: pathlib.Path) -> None:
    watch_state = unique_name("cli-watch-state")
    s = State.options(name=watch_state)(steps=1)
    counted = cli("watch", watch_state, "--interval", "0.05", "--count", "2", cwd=tmp_path)
    assert counted.returncode == 0 and counted.stdout.count('"steps": 1') == 2
    watcher = subprocess.Popen(
        [sys.executable, "-m", "shmstruct", "watch", watch_state, "--interval", "0.05"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(SOURCE_PATH)},
    )
    assert watcher.stdout is not None
    lines = iter(watcher.stdout.readline, "")
    assert any('"steps": 1' in line for line in lines)  # the first view is out
    s.steps = 99
    assert any('"steps": 99' in line for line in lines)  # a later refresh sees the change
    watcher.send_signal(signal.SIGINT)
    rest, _ = watcher.communicate(timeout=JOIN_TIMEOUT)
    assert watcher.returncode == 0 and rest.rstrip().endswith("stopped")


def test_remove_deletes_a_kept_segment(tmp_path: pathlib.Path) -> None:
    remove_kept = unique_name("cli-remove-kept")
    kept = Particle.log(2, name=remove_kept, keep=True)
    kept.close()
    assert segment_exists(remove_kept)
    result = cli("remove", remove_kept, cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == f"removed {remove_kept}"
    assert not segment_exists(remove_kept)
