"""``python -m shmstruct``: list, show, watch and remove shared segments from the shell.

Everything is read from the segments' headers (their schema descriptions); no user code is
imported. ``show`` and ``watch`` copy the data under the segment's lock, so the values printed come
from one moment.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._block import map_segment
from ._errors import SharedMemoryGoneError, ShmStructError
from ._files import open_segment, read_bytes
from ._header import APPENDED, FIXED_PART, FLAGS, KEEP, LOCK, RING, HeaderInfo, read_field, read_header
from ._inspect import collect_garbage, live_names, peek, remove
from ._kinds import decode_record
from ._lock import SharedLock

__all__ = ["main"]


def _list(as_json: bool) -> int:
    rows: list[dict[str, Any]] = []
    for name in live_names():
        try:
            state = peek(name)
        except SharedMemoryGoneError:
            continue  # removed meanwhile
        except (ShmStructError, OSError) as exc:  # damaged, not a regular file, not readable: one line, go on
            rows.append(
                {
                    "name": name,
                    "kind": "?",
                    "schema": "?",
                    "size": None,
                    "creator": None,
                    "alive": None,
                    "users": None,
                    "keep": None,
                    "error": str(exc),
                }
            )
            continue
        info = state.info
        rows.append(
            {
                "name": name,
                "kind": info.kind,
                "schema": info.schema_name,
                "size": state.size,
                "creator": info.creator,
                "alive": bool(state.live_users),
                "users": len(state.live_users),
                "keep": bool(state.flags & KEEP),
            }
        )
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    header = ("NAME", "KIND", "SCHEMA", "SIZE", "CREATOR", "ALIVE", "USERS", "KEEP")
    table = [header] + [
        (
            r["name"],
            r["kind"],
            r["schema"],
            _size(r["size"]),
            str(r["creator"] or "?"),
            _yes(r["alive"]),
            str(r["users"] if r["users"] is not None else "?"),
            _yes(r["keep"]),
        )
        for r in rows
        if "error" not in r
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    for r in rows:
        if "error" in r:
            print(f"{r['name']}: {r['error']}")
    if not rows:
        print("(no shmstruct segments)")
    return 0


def _size(size: int | None) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _yes(flag: bool | None) -> str:
    return "?" if flag is None else "yes" if flag else "no"


#: How long ``show`` waits for a segment's lock before it reads the values without it.
LOCK_WAIT_SECONDS = 2.0


def read_values(name: str, limit: int) -> dict[str, Any]:
    """The current contents of segment ``name`` as JSON-ready data, copied under its lock (one
    moment), or, when the lock stays held or the caller may only read the segment, without it
    (then ``consistent`` is false and ``note`` says why). Read with ``pread``: nothing a damaged or
    shrinking file holds can crash the reader."""
    try:
        fd, writable = open_segment(name, writable=True), True
    except PermissionError:
        fd, writable = open_segment(name), False
    try:
        info = read_header(fd, name)
        description = info.description
        note = "" if writable else "read-only access: the values were read without the lock, and may mix two moments"
        holder = None
        if writable:
            mapping = map_segment(fd, info.header_size)  # the header only: the lock lives there
            lock = SharedLock(name, mapping, LOCK)
            holder = lock.holder  # before this reader takes the lock itself
            with lock.bookkeeping(timeout=LOCK_WAIT_SECONDS) as taken:  # a reader that dies here changes nothing
                head, data = _read_contents(fd, info, name)
            if not taken:
                note = (
                    f"the lock stayed held (by process {lock.holder}) for {LOCK_WAIT_SECONDS:g} s: "
                    "the values were read without it, and may mix two moments"
                )
            del lock
            mapping.close()
        else:
            head, data = _read_contents(fd, info, name)
    finally:
        os.close(fd)
    appended, flags = max(0, read_field(head, APPENDED)), read_field(head, FLAGS)
    count = {"struct": 1, "table": info.rows, "log": min(appended, info.rows)}[info.kind]
    records = np.frombuffer(data, dtype=info.dtype, count=count)
    if info.kind == "log" and flags & RING and appended > info.rows:
        records = np.roll(records, -(appended % info.rows))
    result: dict[str, Any] = {
        "name": name,
        "kind": info.kind,
        "schema": info.schema_name,
        "created": datetime.datetime.fromtimestamp(info.created_ns / 1e9).isoformat(timespec="seconds"),
        "creator": info.creator,
        "lock_holder": holder,
        "consistent": not note,
    }
    if note:
        result["note"] = note
    if info.kind == "struct":
        result["values"] = decode_record(records[0], description, for_json=True)
        return result
    result["rows"] = count
    if info.kind == "log":
        result["capacity"] = info.rows
        result["appended"] = appended
    shown = records[:limit] if limit >= 0 else records
    result["values"] = [decode_record(record, description, for_json=True) for record in shown]
    if len(shown) < count:
        result["more_rows"] = count - len(shown)
    return result


def _read_contents(fd: int, info: HeaderInfo, name: str) -> tuple[bytes, bytes]:
    return read_bytes(fd, 0, FIXED_PART, name), read_bytes(fd, info.header_size, info.data_size, name)


def _show(name: str, limit: int) -> int:
    print(json.dumps(read_values(name, limit), indent=2))
    return 0


def _watch(name: str, interval: float, count: int | None, limit: int) -> int:
    shown = 0
    try:
        while count is None or shown < count:
            text = json.dumps(read_values(name, limit), indent=2)
            if sys.stdout.isatty():
                print("\033[2J\033[H", end="")
            print(f"{datetime.datetime.now():%H:%M:%S}  (Ctrl-C to stop)\n{text}", flush=True)
            shown += 1
            if count is None or shown < count:
                time.sleep(interval)  # the refresh period of a terminal view, not a synchronisation
    except KeyboardInterrupt:
        print("stopped", flush=True)
    return 0


def _gc() -> int:
    collected = collect_garbage()
    for name in collected.removed:
        print(f"removed {name}")
    for line in collected.skipped:
        print(f"left alone: {line}")
    if not collected.removed:
        print("nothing to remove")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m shmstruct", description="Inspect shmstruct shared segments.")
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="the live shmstruct segments")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    show = commands.add_parser("show", help="a segment's current values as JSON")
    show.add_argument("name")
    show.add_argument("--rows", type=int, default=20, help="rows of a table or log to print (-1: all; default 20)")
    watch = commands.add_parser("watch", help="show a segment once a second until Ctrl-C")
    watch.add_argument("name")
    watch.add_argument("--interval", type=float, default=1.0, help="seconds between refreshes (default 1)")
    watch.add_argument("--count", type=int, default=None, help="stop after this many refreshes")
    watch.add_argument("--rows", type=int, default=20, help="rows of a table or log to print (-1: all; default 20)")
    removing = commands.add_parser(
        "remove", help="remove a segment now (keep=True, left behind, or damaged); refused while live processes use it"
    )
    removing.add_argument("name")
    removing.add_argument(
        "--force", action="store_true", help="remove it even while live processes use it (they keep their mapping)"
    )
    commands.add_parser(
        "gc", help="remove every segment no live process uses (except keep=True ones), and half-made ones"
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            return _list(args.json)
        if args.command == "show":
            return _show(args.name, args.rows)
        if args.command == "watch":
            return _watch(args.name, args.interval, args.count, args.rows)
        if args.command == "gc":
            return _gc()
        remove(args.name, force=args.force)
        print(f"removed {args.name}")
        return 0
    except (ShmStructError, OSError) as exc:
        print(f"python -m shmstruct {args.command}: {exc}", file=sys.stderr)
        return 1
