"""``python -m shmstruct``: list, show, watch and remove shared segments from the shell.

Everything is read from the segments' headers (their schema descriptions); no user code is
imported. ``show`` and ``watch`` copy the data under the segment's lock, so the values printed come
from one moment.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._checks import decode_text
from ._errors import ShmStructError
from ._header import APPENDED, FLAGS, KEEP, LOCK, RING, dtype_from_description, read_field, read_header
from ._lock import SharedLock
from ._memory import live_names, map_existing, peek, remove

__all__ = ["main"]


def _list(as_json: bool) -> int:
    rows: list[dict[str, Any]] = []
    for name in live_names():
        state = peek(name)
        if state is None:
            rows.append({"name": name, "kind": "?", "schema": "?", "size": None, "creator": None, "alive": None, "users": None, "keep": None})
            continue
        info = state["info"]
        rows.append(
            {
                "name": name,
                "kind": info.kind,
                "schema": info.schema_name,
                "size": state["size"],
                "creator": info.creator,
                "alive": bool(state["live_users"]),
                "users": len(state["live_users"]),
                "keep": bool(state["flags"] & KEEP),
            }
        )
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    header = ("NAME", "KIND", "SCHEMA", "SIZE", "CREATOR", "ALIVE", "USERS", "KEEP")
    table = [header] + [
        (r["name"], r["kind"], r["schema"], _size(r["size"]), str(r["creator"] or "?"), _yes(r["alive"]), str(r["users"] if r["users"] is not None else "?"), _yes(r["keep"]))
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
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


def read_values(name: str, limit: int) -> dict[str, Any]:
    """The current contents of segment ``name`` as JSON-ready data, copied under its lock."""
    mapping = map_existing(name)
    info = read_header(mapping, name)
    description = info.description
    dtype = dtype_from_description(description)
    lock = SharedLock(name, mapping, LOCK)
    start = info.header_size
    holder = lock.holder  # before this reader takes the lock itself
    with lock.bookkeeping():  # a reader that dies here changes nothing: no warning for the others
        appended = read_field(mapping, APPENDED)
        flags = read_field(mapping, FLAGS)
        data = bytes(mapping[start : start + info.data_size])
    del lock
    mapping.close()
    count = {"struct": 1, "table": info.rows, "log": min(appended, info.rows)}[info.kind]
    records = np.frombuffer(data, dtype=dtype, count=count)
    if info.kind == "log" and flags & RING and appended > info.rows:
        records = np.roll(records, -(appended % info.rows))
    result: dict[str, Any] = {
        "name": name,
        "kind": info.kind,
        "schema": info.schema_name,
        "created": datetime.datetime.fromtimestamp(info.created_ns / 1e9).isoformat(timespec="seconds"),
        "creator": info.creator,
        "lock_holder": holder,
    }
    if info.kind == "struct":
        result["values"] = _record(records[0], description)
        return result
    result["rows"] = count
    if info.kind == "log":
        result["capacity"] = info.rows
        result["appended"] = appended
    shown = records[:limit] if limit >= 0 else records
    result["values"] = [_record(record, description) for record in shown]
    if len(shown) < count:
        result["more_rows"] = count - len(shown)
    return result


def _record(record: Any, description: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field in description["fields"]:
        item = record[field["name"]]
        kind = field["kind"]
        if kind == "nested":
            values[field["name"]] = _record(item, field["schema"])
        elif kind == "text":
            values[field["name"]] = decode_text(bytes(item))
        elif kind == "array":
            values[field["name"]] = item.tolist()
        else:
            value = item.item()
            values[field["name"]] = value.decode("latin-1") if isinstance(value, bytes) else value
    return values


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
    removing = commands.add_parser("remove", help="remove a segment's name now (for keep=True segments)")
    removing.add_argument("name")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            return _list(args.json)
        if args.command == "show":
            return _show(args.name, args.rows)
        if args.command == "watch":
            return _watch(args.name, args.interval, args.count, args.rows)
        remove(args.name)
        print(f"removed {args.name}")
        return 0
    except (ShmStructError, OSError) as exc:
        print(f"python -m shmstruct {args.command}: {exc}", file=sys.stderr)
        return 1
