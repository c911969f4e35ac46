"""The crash-safe lock: a holder killed with SIGKILL does not block the others; waits honour
timeouts and Ctrl-C."""

from __future__ import annotations

import os
import pathlib
import signal
import time
import warnings
from multiprocessing.context import BaseContext

import pytest
from helpers import JOIN_TIMEOUT, Counter, Script, hold_lock_forever, sleeping_in_futex_wait, wait_until

from shmstruct import DeadHolderWarning


def _start_holder(ctx: BaseContext, s: Counter, how: str) -> object:
    held = ctx.Event()
    holder = ctx.Process(target=hold_lock_forever, args=(s, held, how))
    holder.start()
    assert held.wait(JOIN_TIMEOUT)
    return holder


def test_a_killed_holder_is_taken_over(ctx: BaseContext) -> None:
    s = Counter(value=1)
    holder = _start_holder(ctx, s, "lock")
    pid = holder.pid  # type: ignore[attr-defined]
    assert s.lock.holder == pid
    started = time.monotonic()
    assert not s.lock.acquire(timeout=0.3)  # a live holder: the timeout is honoured
    assert time.monotonic() - started >= 0.3  # not cut short (a busy machine may only make it longer)
    os.kill(pid, signal.SIGKILL)  # not reaped yet: a zombie must count as dead
    # The dead holder never lets go: only a takeover can give this acquire the lock.
    with pytest.warns(DeadHolderWarning, match=rf"process {pid} died while holding it.*half-finished update"):
        assert s.lock.acquire(timeout=JOIN_TIMEOUT)
    try:
        assert s.lock.holder == os.getpid()
        s.value += 1
    finally:
        s.lock.release()
    assert s.value == 2 and s.lock.holder is None
    holder.join(JOIN_TIMEOUT)  # type: ignore[attr-defined]
    with s.lock:  # the lock works normally again, without a warning
        pass


def test_a_holder_killed_before_recording_itself_is_taken_over(ctx: BaseContext) -> None:
    s = Counter()
    holder = _start_holder(ctx, s, "unrecorded")
    assert s.lock.holder is None
    os.kill(holder.pid, signal.SIGKILL)  # type: ignore[attr-defined]
    with pytest.warns(DeadHolderWarning, match="died while holding it, before it could record its pid"):
        assert s.lock.acquire(timeout=JOIN_TIMEOUT)  # a takeover: the dead holder never lets go
    s.lock.release()
    holder.join(JOIN_TIMEOUT)  # type: ignore[attr-defined]


def test_a_holder_killed_in_bookkeeping_is_taken_over_silently(ctx: BaseContext) -> None:
    s = Counter()
    holder = _start_holder(ctx, s, "bookkeeping")
    os.kill(holder.pid, signal.SIGKILL)  # type: ignore[attr-defined]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with s.lock:
            s.value = 3
    assert s.value == 3
    holder.join(JOIN_TIMEOUT)  # type: ignore[attr-defined]


def test_the_warning_as_an_error_leaves_the_lock_free(ctx: BaseContext) -> None:
    s = Counter()
    holder = _start_holder(ctx, s, "lock")
    os.kill(holder.pid, signal.SIGKILL)  # type: ignore[attr-defined]
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeadHolderWarning)
        with pytest.raises(DeadHolderWarning), s.lock:
            raise AssertionError("the body must not run")
    assert not s.lock.held_by_me() and s.lock.holder is None
    assert s.lock.acquire(block=False)
    s.lock.release()
    holder.join(JOIN_TIMEOUT)  # type: ignore[attr-defined]


def test_a_blocked_acquire_can_be_interrupted_with_ctrl_c(tmp_path: pathlib.Path) -> None:
    s = Counter()
    with s.lock:
        script = Script(
            str(tmp_path),
            f"""
            from helpers import Counter
            c = Counter.attach({s.name!r})
            try:
                print("waiting", flush=True)
                with c.lock:
                    print("acquired", flush=True)
            except KeyboardInterrupt:
                print("interrupted", flush=True)
            """,
        )
        script.expect("waiting")
        assert wait_until(lambda: sleeping_in_futex_wait(script.pid)), "the script never blocked"
        os.kill(script.pid, signal.SIGINT)
        assert script.expect("interrupted") == "interrupted"  # while this process still holds the lock
        assert script.finish()[0] == 0
    assert s.lock.acquire(block=False)  # the interrupted waiter took nothing
    s.lock.release()


def test_release_without_holding_is_an_error() -> None:
    s = Counter()
    with pytest.raises(AssertionError, match="does not hold"):
        s.lock.release()
    with s.lock, s.lock:  # re-entrant
        assert s.lock.held_by_me()
    assert not s.lock.held_by_me()
