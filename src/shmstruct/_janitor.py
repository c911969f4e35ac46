"""The watcher a creating process leaves behind (started isolated, from "/"; see
:func:`shmstruct._lifecycle._hand_off_at_exit`).

A process that created blocks and exits while other processes still use them (or while references
to them are still in flight) starts this watcher in a session of its own. Once a second it checks
each block's users table: when no user is alive and no reference is in flight any more, it removes
the block's names. It exits when none is left. It never attaches to a block, so it never counts as
a user, and a user killed with ``SIGKILL`` cannot make it wait forever.
"""

from __future__ import annotations

import sys
import time

from ._inspect import Settled, settle
from ._lifecycle import Watched, decode_watched

__all__ = ["main", "watch"]

POLL_SECONDS = 1.0


def watch(segments: list[Watched], poll: float = POLL_SECONDS) -> None:
    """Wait until nobody wants each segment any more, then remove its name (if the name still
    names that segment: a restarted service's new segment of the same name is not ours)."""
    pending = set(segments)
    while pending:
        for watched in sorted(pending, key=lambda entry: entry.name):
            if settle(watched.name, watched.identity).outcome is not Settled.WANTED:
                pending.discard(watched)
        if pending:
            time.sleep(poll)  # a watcher polls: there is no event for "a process died"


def main() -> None:
    """Watch the names given on the command line."""
    watch([decode_watched(argument) for argument in sys.argv[1:]])


if __name__ == "__main__":
    main()
