"""``python -m shmstruct``: list, show, watch and remove shared segments from the shell.

Everything is read from the segments' headers (their schema descriptions); no user code is
imported. ``show`` and ``watch`` copy the data under the segment's lock, so the values printed come
from one moment. The output is text for people by default and, with ``--json``, the documented
JSON documents of :mod:`shmstruct._render`.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from ._contents import Selection, read_contents
from ._errors import SharedMemoryGoneError, ShmStructError
from ._header import KEEP
from ._inspect import collect_garbage, live_names, peek, remove
from ._render import FORMAT_VERSION, dumps, local_time, printable, show_document, show_text

__all__ = ["DEFAULT_ROWS", "main"]

#: How many rows of a table or log ``show`` and ``watch`` print unless told otherwise.
DEFAULT_ROWS = 20


def _list(as_json: bool) -> int:
    entries: list[dict[str, Any]] = []
    for name in live_names():
        entry: dict[str, Any] = dict.fromkeys(
            ("name", "kind", "schema", "size", "created", "creator", "alive", "users", "keep", "error")
        )
        entry["name"] = name
        try:
            state = peek(name)
        except SharedMemoryGoneError:
            continue  # removed meanwhile
        except (ShmStructError, OSError) as exc:  # damaged, not a regular file, not readable: one line, go on
            entry["error"] = str(exc)
            entries.append(entry)
            continue
        info = state.info
        created = local_time(info.created_ns)
        entry.update(
            kind=info.kind,
            schema=info.schema_name,
            size=state.size,
            created=None if created is None else created.isoformat(timespec="seconds"),
            creator=info.creator,
            alive=bool(state.live_users),
            users=len(state.live_users),
            keep=bool(state.flags & KEEP),
        )
        entries.append(entry)
    if as_json:
        print(dumps({"format_version": FORMAT_VERSION, "segments": entries}))
        return 0
    header = ("NAME", "KIND", "SCHEMA", "SIZE", "CREATOR", "ALIVE", "USERS", "KEEP")
    table = [header] + [
        (
            printable(e["name"]),
            e["kind"],
            printable(e["schema"]),
            _size(e["size"]),
            str(e["creator"]),
            "yes" if e["alive"] else "no",
            str(e["users"]),
            "yes" if e["keep"] else "no",
        )
        for e in entries
        if e["error"] is None
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    for e in entries:
        if e["error"] is not None:
            print(f"{printable(e['name'])}: {printable(e['error'])}")
    if not entries:
        print("(no shmstruct segments)")
    return 0


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _show(name: str, selection: Selection, as_json: bool) -> int:
    contents = read_contents(name, selection)
    print(dumps(show_document(contents)) if as_json else show_text(contents))
    return 0


def _watch(name: str, selection: Selection, as_json: bool, interval: float, count: int | None) -> int:
    terminal = sys.stdout.isatty()
    colour = terminal and not os.environ.get("NO_COLOR")  # https://no-color.org
    previous = None
    views = 0
    try:
        while True:
            contents = read_contents(name, selection)
            if as_json:
                print(dumps(show_document(contents)), flush=True)
            else:
                text = show_text(contents, previous, marks=True, colour=colour)
                if terminal:
                    print("\033[H\033[2J", end="")  # clear the screen: each view replaces the last
                elif views:
                    print()
                stamp = f"{datetime.datetime.now():%H:%M:%S}  every {interval:g} s (Ctrl-C to stop)"
                print(f"{stamp}\n{text}", flush=True)
            previous, views = contents, views + 1
            if count is not None and views >= count:
                return 0
            time.sleep(interval)  # the refresh period of a terminal view, not a synchronisation
    except KeyboardInterrupt:
        print("stopped", flush=True)
        return 0


def _gc() -> int:
    collected = collect_garbage()
    for name in collected.removed:
        print(f"removed {printable(name)}")
    for line in collected.skipped:
        print(f"left alone: {printable(line)}")
    if not collected.removed:
        print("nothing to remove")
    return 0


def _rows(text: str) -> int:
    try:
        rows = int(text)
    except ValueError:
        rows = -1
    if rows < 0:
        raise argparse.ArgumentTypeError(f"expected a number of rows, 0 or more, not {text!r}")
    return rows


def _interval(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds < math.inf:
        raise argparse.ArgumentTypeError(f"expected a number of seconds greater than 0, not {text!r}")
    return seconds


def _views(text: str) -> int:
    try:
        views = int(text)
    except ValueError:
        views = 0
    if views < 1:
        raise argparse.ArgumentTypeError(f"expected a number of views, 1 or more, not {text!r}")
    return views


def _add_view_options(command: argparse.ArgumentParser, what: str) -> None:
    command.add_argument("name", help="the segment's name (python -m shmstruct list shows them)")
    rows = command.add_mutually_exclusive_group()
    rows.add_argument(
        "--head",
        type=_rows,
        metavar="N",
        help=f"the first N rows of a table or log (default for a table: {DEFAULT_ROWS})",
    )
    rows.add_argument(
        "--tail", type=_rows, metavar="N", help=f"the last (newest) N rows (default for a log: {DEFAULT_ROWS})"
    )
    rows.add_argument("--all", action="store_true", help="every row")
    command.add_argument("--json", action="store_true", help=f"print {what} (see the docs for the format)")


def _selection(args: argparse.Namespace) -> Selection:
    if args.all:
        return Selection(None, None)
    if args.head is not None:
        return Selection(True, args.head)
    if args.tail is not None:
        return Selection(False, args.tail)
    return Selection(None, DEFAULT_ROWS)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m shmstruct", description="Inspect shmstruct shared segments.")
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="the live shmstruct segments")
    listing.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    show = commands.add_parser("show", help="a segment's current values")
    _add_view_options(show, "one JSON document instead of text")
    watch = commands.add_parser("watch", help="show a segment again every second until Ctrl-C, marking what changed")
    _add_view_options(watch, "one JSON document per line and view instead of text")
    watch.add_argument("--interval", type=_interval, default=1.0, help="seconds between views (default 1)")
    watch.add_argument("--count", type=_views, default=None, help="stop after this many views")
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
    return parser


def _run(args: argparse.Namespace) -> int:
    if args.command == "list":
        return _list(args.json)
    if args.command == "show":
        return _show(args.name, _selection(args), args.json)
    if args.command == "watch":
        return _watch(args.name, _selection(args), args.json, args.interval, args.count)
    if args.command == "gc":
        return _gc()
    remove(args.name, force=args.force)
    print(f"removed {printable(args.name)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 done, 1 refused or failed, 2 bad usage,
    130 interrupted)."""
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="backslashreplace")  # text of any script on a terminal of any encoding
    args = _parser().parse_args(argv)
    try:
        status = _run(args)
        sys.stdout.flush()  # here, where a reader that went away is handled, not at exit
        return status
    except BrokenPipeError:  # the reader went away (python -m shmstruct show NAME | head)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 1
    except KeyboardInterrupt:
        return 130
    except (ShmStructError, OSError) as exc:
        print(f"python -m shmstruct {args.command}: {printable(str(exc))}", file=sys.stderr)
        return 1
