"""Which processes are alive: for the users table of a block and for its lock's holder."""

from __future__ import annotations

import os

__all__ = ["current_pid", "is_alive"]


def is_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and has not exited. A zombie (killed, not yet reaped by
    its parent) counts as dead: it holds nothing any more."""
    if not 0 < pid <= _PID_MAX:  # 0, negative, or beyond any pid (a damaged users table)
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    if not _HAVE_PROC:  # macOS: no zombie check
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            state = stat.read().rsplit(b")", 1)[1].split()[0]
    except FileNotFoundError:  # reaped just now
        return False
    except (OSError, IndexError):
        return True
    return state not in (b"Z", b"X")


_HAVE_PROC = os.path.isdir("/proc/self")
_PID_MAX = 1 << 22  # Linux's PID_MAX_LIMIT


class _Pid:
    """This process's pid, refreshed in forked children (``os.getpid()`` is a system call on some
    platforms; the lock reads this on every acquire)."""

    value = os.getpid()

    @classmethod
    def refresh(cls) -> None:
        cls.value = os.getpid()


os.register_at_fork(after_in_child=_Pid.refresh)


def current_pid() -> int:
    """This process's pid."""
    return _Pid.value
