"""python -m shmstruct list / show / watch / remove, run as a user would, with no user code importable."""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import time
import zlib
from typing import Any

import numpy as np
from helpers import (
    JOIN_TIMEOUT,
    SOURCE_PATH,
    Counter,
    Entry,
    EveryType,
    Particle,
    State,
    entry_values,
    segment_exists,
    unique_name,
    wait_until,
)
from numpy.typing import NDArray

import shmstruct
from shmstruct import Atomic, SharedStruct, array, atomic, text

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(SOURCE_PATH)}


def cli(*args: str, cwd: pathlib.Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the command line from an empty directory: only the shmstruct package is importable."""
    return subprocess.run(
        [sys.executable, "-m", "shmstruct", *args],
        capture_output=True,
        text=True,
        timeout=JOIN_TIMEOUT,
        cwd=cwd,
        env=env or ENV,
    )


def shown_json(*args: str, cwd: pathlib.Path) -> Any:
    done = cli("show", "--json", *args, cwd=cwd)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1  # one document, one line
    return json.loads(done.stdout)


def body(text: str) -> list[str]:
    """What ``show`` printed after its summary line."""
    return text.splitlines()[1:]


# --------------------------------------------------------------------------- list


def test_list_shows_the_live_segments(tmp_path: pathlib.Path) -> None:
    list_state, list_table = unique_name("cli-list-state"), unique_name("cli-list-table")
    s = State.options(name=list_state)(steps=3)
    table = Particle.table(10, name=list_table)
    text = cli("list", cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    lines = {line.split()[0]: line.split() for line in text.stdout.splitlines()[1:]}
    assert lines[list_state][1:3] == ["struct", "State"] and str(os.getpid()) in lines[list_state]
    assert lines[list_table][1:3] == ["table", "Particle"]
    listed = cli("list", "--json", cwd=tmp_path)
    assert len(listed.stdout.splitlines()) == 1
    document = json.loads(listed.stdout)
    assert set(document) == {"format_version", "segments"} and document["format_version"] == 1
    entries = {e["name"]: e for e in document["segments"]}
    mine = entries[list_state]
    assert set(mine) == {"name", "kind", "schema", "size", "created", "creator", "alive", "users", "keep", "error"}
    assert (mine["kind"], mine["schema"], mine["creator"], mine["alive"], mine["users"], mine["keep"]) == (
        "struct", "State", os.getpid(), True, 1, False
    )  # fmt: skip
    assert mine["error"] is None and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", mine["created"])
    assert entries[list_table]["size"] == table._block.size and s.steps == 3


def test_list_json_reports_a_damaged_entry_with_its_error(tmp_path: pathlib.Path) -> None:
    damaged = unique_name("cli-list-damaged")
    with open(f"/dev/shm/shms_{damaged}", "wb") as planted:
        planted.write(os.urandom(3000))
    try:
        entries = {e["name"]: e for e in json.loads(cli("list", "--json", cwd=tmp_path).stdout)["segments"]}
        entry = entries[damaged]
        assert "not a shmstruct block" in entry["error"]
        assert entry["kind"] is None and entry["schema"] is None and entry["size"] is None
    finally:
        os.unlink(f"/dev/shm/shms_{damaged}")


# --------------------------------------------------------------------------- show: text


class Histogram(SharedStruct):
    counts: NDArray[np.int64] = array(5)
    big: NDArray[np.float64] = array((40, 30))
    label: str = text(8, "bins")


def test_show_prints_one_line_per_field_and_arrays_on_one_line(tmp_path: pathlib.Path) -> None:
    name = unique_name("cli-show-hist")
    h = shmstruct.options(Histogram, name=name)()
    h.counts[:] = [3, 0, 12, 7, 1]
    h.big[:] = np.arange(1200).reshape(40, 30)
    shown = cli("show", name, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    summary, *lines = shown.stdout.splitlines()
    assert summary.startswith(f"{name}: struct Histogram, created ") and f"by process {os.getpid()}" in summary
    assert lines[0] == "counts  [ 3  0 12  7  1]"  # 5 elements: one line, as numpy prints them
    assert lines[1] == (
        "big     [[0.000e+00 1.000e+00 2.000e+00 ... 2.700e+01 2.800e+01 2.900e+01] "
        "[3.000e+01 3.100e+01 3.200e+01 ... 5.700e+01 5.800e+01 5.900e+01] "
        "[6.000e+01 6.100e+01 6.200e+01 ... 8.700e+01 8.800e+01 8.900e+01] ... "
        "[1.110e+03 1.111e+03 1.112e+03 ... 1.137e+03 1.138e+03 1.139e+03] "
        "[1.140e+03 1.141e+03 1.142e+03 ... 1.167e+03 1.168e+03 1.169e+03] "
        "[1.170e+03 1.171e+03 1.172e+03 ... 1.197e+03 1.198e+03 1.199e+03]] (shape 40x30)"
    )  # summarised as numpy's repr does, with the shape
    assert lines[2:] == ["label   'bins'"]


def test_show_prints_every_kind_of_field(tmp_path: pathlib.Path) -> None:
    show_state = unique_name("cli-show-state")
    s = State.options(name=show_state)(steps=7, label="héllo")
    s.grid[1] = [1.0, 2.0, 3.0]
    s.origin.y = -2.5
    lines = body(cli("show", show_state, cwd=tmp_path).stdout)
    assert lines == [
        "steps        7",
        "level        0",
        "legacy       0",
        "code         0",
        "running      True",
        "temperature  20.0",
        "label        'héllo'",
        "grid         [[0. 0. 0.] [1. 2. 3.] [0. 0. 0.] [0. 0. 0.]]",
        "origin.x     0.0",
        "origin.y     -2.5",
        "origin.z     0.0",
        "budget       50",
    ]
    every = shmstruct.options(EveryType, name=unique_name("cli-show-every"))(f=0.1)
    values = dict(line.split(None, 1) for line in body(cli("show", shmstruct.segment_name(every), cwd=tmp_path).stdout))
    assert (values["f"], values["c"], values["u"], values["words"], values["flag"]) == (
        "0.1", "b'a'", "'x'", "'hello'", "False"
    )  # fmt: skip
    assert values["samples"] == "[0 0 0 0 0]" and values["where.z"] == "3.0"


def test_show_tables_first_rows_and_tail_shows_the_last(tmp_path: pathlib.Path) -> None:
    show_table = unique_name("cli-show-table")
    table = Particle.table(30, name=show_table)
    table.column("x")[:] = np.arange(30)
    lines = body(cli("show", show_table, cwd=tmp_path).stdout)
    assert lines[0].split() == ["#", "x", "y", "mass", "alive"]
    assert [line.split()[:2] for line in lines[1:21]] == [[str(i), f"{i}.0"] for i in range(20)]
    assert lines[21:] == ["... 10 more rows (--tail N shows the last ones, --all every row)"]
    lines = body(cli("show", show_table, "--tail", "3", cwd=tmp_path).stdout)
    assert lines[0] == "... 27 earlier rows (--head N shows the first ones, --all every row)"
    assert lines[2:] == ["27  27.0  0.0   1.0  True", "28  28.0  0.0   1.0  True", "29  29.0  0.0   1.0  True"]
    assert len(body(cli("show", show_table, "--all", cwd=tmp_path).stdout)) == 31
    assert body(cli("show", show_table, "--head", "0", cwd=tmp_path).stdout) == [
        "... 30 more rows (--tail N shows the last ones, --all every row)"
    ]


def test_show_logs_newest_rows_by_default(tmp_path: pathlib.Path) -> None:
    show_log = unique_name("cli-show-log")
    log = Entry.log(100, name=show_log)
    for seq in range(30):
        log.append(**entry_values(2, seq))
    summary, *lines = cli("show", show_log, cwd=tmp_path).stdout.splitlines()
    assert summary.startswith(f"{show_log}: log Entry, 30 rows of 100, 30 appended, created ")
    assert lines[0] == "... 10 earlier rows (--head N shows the first ones, --all every row)"
    assert lines[1].split() == ["#", "worker", "seq", "square", "tag", "echo", "where.x", "where.y", "where.z"]
    assert [line.split()[0] for line in lines[2:]] == [str(i) for i in range(10, 30)]
    assert re.fullmatch(r"29 +2 +29 +843 +'w2-s29' +\[29 29 29 29\] +2\.0 +29\.0 +1\.0", lines[-1])
    lines = body(cli("show", show_log, "--head", "2", cwd=tmp_path).stdout)
    assert [line.split()[0] for line in lines] == ["#", "0", "1", "..."]
    empty = Entry.log(4, name=unique_name("cli-show-empty-log"))
    assert body(cli("show", empty.name, cwd=tmp_path).stdout) == ["(no rows)"]


def test_show_a_wrapped_ring_oldest_first_numbered_by_append(tmp_path: pathlib.Path) -> None:
    show_ring = unique_name("cli-show-ring")
    ring = Entry.log(5, ring=True, name=show_ring)
    for seq in range(7):  # appends 5 and 6 overwrote slots 0 and 1
        ring.append(**entry_values(1, seq))

    def tags(*options: str) -> list[tuple[int, str]]:
        lines = body(cli("show", show_ring, *options, cwd=tmp_path).stdout)
        return [(int(line.split()[0]), line.split()[4]) for line in lines if line.split()[0].isdigit()]

    assert tags() == [(i, f"'w1-s{i}'") for i in range(2, 7)]
    assert tags("--head", "2") == [(2, "'w1-s2'"), (3, "'w1-s3'")]
    assert tags("--tail", "3") == [(4, "'w1-s4'"), (5, "'w1-s5'"), (6, "'w1-s6'")]  # across the wrap
    summary = cli("show", show_ring, cwd=tmp_path).stdout.splitlines()[0]
    assert summary.startswith(f"{show_ring}: ring log Entry, 5 rows of 5, 7 appended, created")


# --------------------------------------------------------------------------- show: JSON


class Gauges(SharedStruct):
    hits: Atomic[int] = atomic(3)
    level: shmstruct.float32 = 0.5
    low: float = 0.0
    samples: NDArray[np.float64] = array(3)
    note: str = text(12)


def test_show_json_is_the_documented_format(tmp_path: pathlib.Path) -> None:
    show_state = unique_name("cli-json-state")
    s = State.options(name=show_state)(steps=7, label="héllo")
    s.grid[1] = [1.0, 2.0, 3.0]
    s.origin.y = -2.5
    shown = shown_json(show_state, cwd=tmp_path)
    assert list(shown) == [
        "format_version", "name", "kind", "schema", "created", "creator", "lock_holder", "consistent", "note",
        "fields", "values",
    ]  # fmt: skip
    assert shown["format_version"] == 1 and shown["name"] == show_state
    assert (shown["kind"], shown["schema"], shown["creator"], shown["lock_holder"]) == (
        "struct", "State", os.getpid(), None
    )  # fmt: skip
    assert shown["consistent"] is True and shown["note"] is None
    values = shown["values"]
    assert values == {
        "steps": 7, "level": 0, "legacy": 0, "code": 0, "running": True, "temperature": 20.0, "label": "héllo",
        "grid": [[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
        "origin": {"x": 0.0, "y": -2.5, "z": 0.0}, "budget": 50,
    }  # fmt: skip
    fields = {f["name"]: f for f in shown["fields"]}
    assert fields["steps"] == {
        "name": "steps", "kind": "scalar", "c": "int64_t", "offset": 0, "size": 8, "dtype": "<i8", "shape": []
    }  # fmt: skip
    assert fields["label"] == {
        "name": "label", "kind": "text", "c": "char[16]", "offset": 32, "size": 16, "dtype": "|S16", "shape": []
    }  # fmt: skip
    assert (fields["grid"]["kind"], fields["grid"]["c"], fields["grid"]["dtype"], fields["grid"]["shape"]) == (
        "array", "double[4][3]", "<f8", [4, 3]
    )  # fmt: skip
    origin = fields["origin"]
    assert (origin["kind"], origin["c"], origin["schema"], origin["size"]) == ("nested", "struct Vec3", "Vec3", 24)
    assert [(f["name"], f["offset"]) for f in origin["fields"]] == [("x", 0), ("y", 8), ("z", 16)]
    assert "dtype" not in origin


def test_show_json_atomics_floats_and_non_finite_values(tmp_path: pathlib.Path) -> None:
    name = unique_name("cli-json-gauges")
    g = shmstruct.options(Gauges, name=name)(note="ok\n")
    g.low = -np.inf
    g.samples[:] = [np.nan, np.inf, 1.5]
    shown = shown_json(name, cwd=tmp_path)
    assert shown["values"] == {
        "hits": 3, "level": 0.5, "low": "-Infinity", "samples": ["NaN", "Infinity", 1.5], "note": "ok\n"
    }  # fmt: skip
    assert shown["fields"][0]["kind"] == "atomic" and shown["fields"][0]["c"] == "_Atomic int64_t"
    every = shmstruct.options(EveryType, name=unique_name("cli-json-every"))(f=0.1)
    values = shown_json(shmstruct.segment_name(every), cwd=tmp_path)["values"]
    assert values["f"] == float(np.float32(0.1))  # the stored float32, exactly
    assert (values["c"], values["u"], values["words"]) == ("a", "x", "hello")
    big = shmstruct.options(Histogram, name=unique_name("cli-json-hist"))()
    assert np.array_equal(shown_json(shmstruct.segment_name(big), cwd=tmp_path)["values"]["big"], big.big)  # never cut


def test_show_json_of_tables_and_logs(tmp_path: pathlib.Path) -> None:
    show_table, show_ring = unique_name("cli-json-table"), unique_name("cli-json-ring")
    table = Particle.table(30, name=show_table)
    table.column("x")[:] = np.arange(30)
    shown = shown_json(show_table, "--tail", "3", cwd=tmp_path)
    assert list(shown)[-3:] == ["rows", "first", "values"] and "capacity" not in shown
    assert (shown["rows"], shown["first"]) == (30, 27)
    assert [row["x"] for row in shown["values"]] == [27.0, 28.0, 29.0]
    assert (
        shown_json(show_table, cwd=tmp_path)["first"] == 0
        and len(shown_json(show_table, "--all", cwd=tmp_path)["values"]) == 30
    )
    ring = Entry.log(3, ring=True, name=show_ring)
    for seq in range(5):
        ring.append(**entry_values(1, seq))
    shown = shown_json(show_ring, "--all", cwd=tmp_path)
    assert (shown["rows"], shown["capacity"], shown["appended"], shown["ring"], shown["first"]) == (3, 3, 5, True, 2)
    assert [row["tag"] for row in shown["values"]] == ["w1-s2", "w1-s3", "w1-s4"]  # oldest first
    assert shown["values"][0]["where"] == {"x": 1.0, "y": 2.0, "z": 1.0} and shown["values"][0]["echo"] == [2] * 4


# --------------------------------------------------------------------------- bad input


def test_unknown_names_are_reported(tmp_path: pathlib.Path) -> None:
    no_such_segment = unique_name("cli-no-such-segment")
    for command in ("show", "watch"):
        result = cli(command, no_such_segment, cwd=tmp_path)
        assert result.returncode == 1 and f"no shared segment named {no_such_segment!r}" in result.stderr
        assert "Traceback" not in result.stderr
    result = cli("show", "a/b", cwd=tmp_path)
    assert result.returncode == 1 and "may only hold letters" in result.stderr


def test_bad_options_are_refused_with_the_option_named(tmp_path: pathlib.Path) -> None:
    name = unique_name("cli-bad-options")
    c = Counter.options(name=name)(value=1)
    for args, message in (
        (("show", name, "--tail", "-1"), "argument --tail: expected a number of rows, 0 or more, not '-1'"),
        (("show", name, "--head", "x"), "argument --head: expected a number of rows, 0 or more, not 'x'"),
        (("show", name, "--head", "1", "--tail", "1"), "argument --tail: not allowed with argument --head"),
        (("show", name, "--all", "--tail", "1"), "argument --tail: not allowed with argument --all"),
        (("watch", name, "--interval", "0"), "argument --interval: expected a number of seconds greater than 0"),
        (("watch", name, "--interval", "nan"), "argument --interval: expected a number of seconds greater than 0"),
        (("watch", name, "--count", "0"), "argument --count: expected a number of views, 1 or more, not '0'"),
        (("show", name, "--rows", "3"), "unrecognized arguments: --rows 3"),
    ):
        result = cli(*args, cwd=tmp_path)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)
        assert result.stdout == ""
    assert c.value == 1


def _plant(name: str, description: dict[str, Any], data: bytes) -> None:
    """A struct segment whose header carries ``description`` (consistent sizes and fingerprint),
    holding ``data``: what a foreign or hostile program could leave in /dev/shm."""
    from shmstruct._header import FIXED_PART

    healthy = Counter(value=1)
    with open(f"/dev/shm/shms_{shmstruct.segment_name(healthy)}", "rb") as source:
        image = bytearray(source.read(FIXED_PART))
    shmstruct.close(healthy)
    raw = json.dumps(description).encode()
    packed = zlib.compress(raw)
    header_size = -(-(FIXED_PART + len(packed)) // 64) * 64
    image += packed + bytes(header_size - FIXED_PART - len(packed))
    struct.pack_into("<QQ32s", image, 16, header_size, len(data), hashlib.sha256(raw).digest())
    struct.pack_into("<Q", image, 120, len(packed))
    with open(f"/dev/shm/shms_{name}", "wb") as planted:
        planted.write(image + data)


def test_foreign_contents_neither_crash_nor_drive_the_terminal(tmp_path: pathlib.Path) -> None:
    name = unique_name("cli-foreign")
    description = {
        "schema": "\x1b[2J",
        "itemsize": 24,
        "fields": [
            {"name": "\x1b[31mred", "kind": "scalar", "c": "wchar_t", "offset": 0, "size": 4, "dtype": "<U1"},
            {"name": "f", "kind": "scalar", "c": "double", "offset": 8, "size": 8, "dtype": "<f8"},
            {"name": "t", "kind": "text", "c": "char[8]", "offset": 16, "size": 8, "max_bytes": 8},
        ],
    }
    data = b"\xff\xff\xff\xff" + bytes(4) + np.float64(np.nan).tobytes() + b"\x1b[2J\xff\0\0\0"
    _plant(name, description, data)
    try:
        shown = cli("show", name, cwd=tmp_path)
        assert shown.returncode == 0, shown.stderr
        assert "\x1b" not in shown.stdout
        assert body(shown.stdout) == ["\\x1b[31mred  '\ufffd'", "f            nan", "t            '\\x1b[2J\ufffd'"]
        assert "struct \\x1b[2J," in shown.stdout.splitlines()[0]
        values = shown_json(name, cwd=tmp_path)["values"]
        assert values == {"\x1b[31mred": "\ufffd", "f": "NaN", "t": "\x1b[2J\ufffd"}
        listed = cli("list", cwd=tmp_path)
        assert listed.returncode == 0 and "\x1b" not in listed.stdout
    finally:
        os.unlink(f"/dev/shm/shms_{name}")
    for field in (
        {"name": "o", "kind": "scalar", "c": "?", "offset": 0, "size": 8, "dtype": "|O"},  # numpy objects
        {"name": "z", "kind": "array", "c": "?", "offset": 0, "size": 16, "dtype": "<c16", "shape": [1]},
        {"name": "t", "kind": "text", "c": "?", "offset": 0, "size": 8, "max_bytes": "4,i4"},
    ):
        _plant(name, {"schema": "X", "itemsize": field["size"], "fields": [field]}, bytes(field["size"]))
        try:
            for args in (("show", name), ("show", "--json", name)):
                refused = cli(*args, cwd=tmp_path)
                assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
                assert f"shared segment {name!r} is damaged: its schema description does not lay out" in refused.stderr
        finally:
            os.unlink(f"/dev/shm/shms_{name}")


def test_output_cut_short_by_its_reader_is_no_error_message(tmp_path: pathlib.Path) -> None:
    name = unique_name("cli-pipe")
    table = Particle.table(20_000, name=name)
    shown = subprocess.Popen(
        [sys.executable, "-m", "shmstruct", "show", "--all", name],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env=ENV,
    )
    assert shown.stdout is not None and shown.stderr is not None
    assert shown.stdout.readline().startswith(name.encode())
    shown.stdout.close()  # as `| head -1` does
    assert shown.wait(JOIN_TIMEOUT) == 1
    assert shown.stderr.read() == b"" and len(table) == 20_000
    small = Counter.options(name=unique_name("cli-pipe-small"))(value=1)
    for args in (("show", small.name), ("show", "--json", small.name), ("list",)):
        reader, writer = os.pipe()
        os.close(reader)  # gone before anything is written: the write at exit fails
        try:
            done = subprocess.run(
                [sys.executable, "-m", "shmstruct", *args],
                stdout=writer,
                stderr=subprocess.PIPE,
                timeout=JOIN_TIMEOUT,
                cwd=tmp_path,
                env=ENV,
            )
        finally:
            os.close(writer)
        assert (done.returncode, done.stderr) == (1, b""), args


# --------------------------------------------------------------------------- watch


class Watcher:
    """A running ``python -m shmstruct watch``, read one view at a time (without a terminal,
    views are separated by a blank line, so a view is complete once the next one starts)."""

    def __init__(self, cwd: pathlib.Path, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "shmstruct", "watch", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=ENV,
        )
        self.pending = b""

    def _line(self) -> str | None:
        stdout = self.process.stdout
        assert stdout is not None
        while b"\n" not in self.pending:
            ready, _, _ = select.select([stdout], [], [], JOIN_TIMEOUT)
            assert ready, f"watch printed nothing for {JOIN_TIMEOUT} s"
            chunk = os.read(stdout.fileno(), 65536)
            if not chunk:
                return None
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        return line.decode()

    def view(self) -> list[str]:
        """The next whole view: its time line, summary line, and field or row lines."""
        lines: list[str] = []
        while (line := self._line()) is not None:
            if line:
                lines.append(line)
            elif lines:
                break
        return lines

    def view_where(self, condition: Any) -> list[str]:
        """The first view from now on for which ``condition(view)`` holds."""
        deadline = time.monotonic() + JOIN_TIMEOUT  # a hang guard only
        while time.monotonic() < deadline:
            view = self.view()
            assert view, "watch stopped"
            if condition(view):
                return view
        raise AssertionError(f"no such view in {JOIN_TIMEOUT} s")

    def stop(self) -> tuple[int, str, str]:
        """Press Ctrl-C; the exit status and the rest of its output."""
        self.process.send_signal(signal.SIGINT)
        return self.finish()

    def finish(self) -> tuple[int, str, str]:
        """Wait for it to exit; the exit status and the rest of its output."""
        rest, err = self.process.communicate(timeout=JOIN_TIMEOUT)
        return self.process.returncode, (self.pending + rest).decode(), err.decode()


def test_watch_marks_what_changed_since_the_previous_view(tmp_path: pathlib.Path) -> None:
    watch_state = unique_name("cli-watch-state")
    s = State.options(name=watch_state)(steps=1)
    watcher = Watcher(tmp_path, watch_state, "--interval", "0.1")
    first = watcher.view()
    assert re.fullmatch(r"\d\d:\d\d:\d\d  every 0.1 s \(Ctrl-C to stop\)", first[0])
    assert first[1].startswith(f"{watch_state}: struct State")
    assert "  steps        1" in first and not [line for line in first[2:] if not line.startswith("  ")]
    with s.lock:
        s.steps = 99
        s.origin.y = 0.5
    changed = watcher.view_where(lambda view: "  steps        1" not in view)
    assert [line for line in changed if line.startswith("*")] == ["* steps        99", "* origin.y     0.5"]
    assert "  temperature  20.0" in changed
    after = watcher.view()
    assert "  steps        99" in after and not [line for line in after if line.startswith("*")]
    status, rest, err = watcher.stop()
    assert status == 0 and rest.rstrip().endswith("stopped"), err


def test_watch_follows_the_end_of_a_growing_log(tmp_path: pathlib.Path) -> None:
    watch_log = unique_name("cli-watch-log")
    log = Entry.log(100, name=watch_log)
    for seq in range(30):
        log.append(**entry_values(0, seq))
    watcher = Watcher(tmp_path, watch_log, "--interval", "0.1")  # a log's default: its newest 20 rows

    def indexes(view: list[str]) -> list[str]:
        return [line[2:].split()[0] for line in view[4:]]

    first = watcher.view()
    assert first[2] == "... 10 earlier rows (--head N shows the first ones, --all every row)"
    assert indexes(first) == [str(i) for i in range(10, 30)]
    for seq in range(30, 33):
        log.append(**entry_values(0, seq))
    marked_new: set[str] = set()

    def at_the_end(view: list[str]) -> bool:
        marked_new.update(line.split()[1] for line in view[4:] if line.startswith("+"))
        return indexes(view)[-1] == "32"

    view = watcher.view_where(at_the_end)
    assert indexes(view) == [str(i) for i in range(13, 33)] and marked_new == {"30", "31", "32"}
    assert view[2] == "... 13 earlier rows (--head N shows the first ones, --all every row)"
    assert re.fullmatch(r"\+ 32 +0 +32 +1024 +'w0-s32' +\[32 32 32 32\] +0\.0 +32\.0 +1\.0", view[-1])
    assert watcher.stop()[0] == 0


def test_watch_marks_changed_rows_and_values_of_a_table(tmp_path: pathlib.Path) -> None:
    watch_table = unique_name("cli-watch-table")
    table = Particle.table(4, name=watch_table)
    watcher = Watcher(tmp_path, watch_table, "--interval", "0.1")
    first = watcher.view()
    assert first[2:] == [
        "  #    x     y   mass   alive",
        "  0  0.0   0.0    1.0   True",
        "  1  0.0   0.0    1.0   True",
        "  2  0.0   0.0    1.0   True",
        "  3  0.0   0.0    1.0   True",
    ]
    table[2].x = 7.5
    view = watcher.view_where(lambda view: any(line.startswith("*") for line in view))
    assert view[2:] == [
        "  #    x     y   mass   alive",
        "  0  0.0   0.0    1.0   True",
        "  1  0.0   0.0    1.0   True",
        "* 2  7.5*  0.0    1.0   True",  # the row, and in it the value, that changed
        "  3  0.0   0.0    1.0   True",
    ]
    assert watcher.stop()[0] == 0


def test_watch_json_prints_one_document_per_view(tmp_path: pathlib.Path) -> None:
    name = unique_name("cli-watch-json")
    c = Counter.options(name=name)(value=5)
    done = cli("watch", name, "--json", "--interval", "0.05", "--count", "3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    documents = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(documents) == 3 and all(d["values"] == {"value": 5} and d["format_version"] == 1 for d in documents)
    assert c.value == 5


def test_watch_of_a_segment_that_goes_away_says_so(tmp_path: pathlib.Path) -> None:
    name = unique_name("cli-watch-gone")
    c = Counter.options(name=name)(value=5)
    watcher = Watcher(tmp_path, name, "--interval", "0.1")
    assert watcher.view()[1].startswith(f"{name}: struct Counter")
    shmstruct.unlink(name)
    status, _, err = watcher.finish()
    assert status == 1 and "Traceback" not in err
    assert err.startswith(f"python -m shmstruct watch: no shared segment named {name!r}")
    c.close()


def test_watch_on_a_terminal_clears_it_and_shows_changes_in_bold(tmp_path: pathlib.Path) -> None:
    name = unique_name("cli-watch-tty")
    c = Counter.options(name=name)(value=1)
    for env, bold in ((ENV, True), ({**ENV, "NO_COLOR": "1"}, False)):
        primary, secondary = pty.openpty()
        watcher = subprocess.Popen(
            [sys.executable, "-m", "shmstruct", "watch", name, "--interval", "0.1"],
            stdout=secondary,
            stderr=subprocess.PIPE,
            cwd=tmp_path,
            env=env,
        )
        os.close(secondary)
        seen = b""

        def printed(expected: bytes, terminal: int = primary) -> bool:
            nonlocal seen
            ready, _, _ = select.select([terminal], [], [], JOIN_TIMEOUT)
            seen += os.read(terminal, 65536) if ready else b""
            return expected in seen

        assert wait_until(lambda: printed(b"value  1"))
        c.value = 2
        assert wait_until(lambda: printed(b"value  "))
        assert wait_until(lambda: printed(b"* value  "))
        assert seen.startswith(b"\x1b[H\x1b[2J")  # every view replaces the previous one
        assert (b"* value  \x1b[1m2\x1b[0m" in seen) is bold and (b"* value  2" in seen) is not bold
        watcher.send_signal(signal.SIGINT)
        assert watcher.wait(JOIN_TIMEOUT) == 0
        os.close(primary)
        c.value = 1
    c.close()


# --------------------------------------------------------------------------- remove


def test_remove_deletes_a_kept_segment(tmp_path: pathlib.Path) -> None:
    remove_kept = unique_name("cli-remove-kept")
    kept = Particle.log(2, name=remove_kept, keep=True)
    kept.close()
    assert segment_exists(remove_kept)
    result = cli("remove", remove_kept, cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == f"removed {remove_kept}"
    assert not segment_exists(remove_kept)


def test_remove_refuses_a_segment_in_use_unless_forced(tmp_path: pathlib.Path) -> None:
    name = unique_name("cli-remove-in-use")
    c = Counter.options(name=name)(value=3)
    refused = cli("remove", name, cwd=tmp_path)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.strip() == (
        f"python -m shmstruct remove: shared segment {name!r} is in use by process {os.getpid()} "
        f"({pathlib.Path(f'/proc/{os.getpid()}/comm').read_text().strip()}): not removing it "
        "(--force removes it anyway: they keep using it, but no process can attach to it any more)"
    )
    assert segment_exists(name) and shmstruct.attach(Counter, name).value == 3
    forced = cli("remove", "--force", name, cwd=tmp_path)
    assert forced.returncode == 0 and forced.stdout.strip() == f"removed {name}"
    assert not segment_exists(name)
    c.value += 1  # the mapping stays valid
    assert c.value == 4
    gone = cli("remove", name, cwd=tmp_path)
    assert gone.returncode == 1 and f"no shared segment named {name!r}" in gone.stderr
    c.close()
