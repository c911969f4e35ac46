"""Shared fixtures: the start-method matrix, and the checks that a test leaves no thread running and
the suite leaves nothing of this run in /dev/shm."""

from __future__ import annotations

import gc
import json
import multiprocessing as mp
import os
import pathlib
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from multiprocessing.context import BaseContext

import pytest
from helpers import JOIN_TIMEOUT, RUN_PREFIX, SOURCE_PATH, wait_until  # helpers sets this run's name prefix

START_METHODS = ["fork", "spawn", "forkserver"]

# A forkserver child is a fork of the server: with the light helper modules (and so shmstruct)
# imported there once, the suite's many forkserver children do not each import them again. numpy
# and pydantic stay out, so that a child still imports them itself when it unpickles something that
# needs them, as under spawn. ("__main__" is multiprocessing's default.)
mp.set_forkserver_preload(["__main__", "helpers", "sync_helpers"])


def ours_in_dev_shm() -> set[str]:
    """This run's entries in /dev/shm: every segment it generated a name for (the run's
    ``SHMSTRUCT_NAME_PREFIX``) or chose a name for (``helpers.unique_name``). Segments of another
    suite running at the same time are not ours."""
    if not os.path.isdir("/dev/shm"):
        return set()
    return {n for n in os.listdir("/dev/shm") if n.startswith(f"shms_{RUN_PREFIX}")}


def _tested_package() -> str:
    import shmstruct

    return os.path.dirname(os.path.abspath(shmstruct.__file__))


def pytest_configure(config: pytest.Config) -> None:
    """With SHMSTRUCT_TEST_INSTALLED set, the suite must test the installed package, not the source tree."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        # Started in the background by a shell (`pytest &`), this process ignores SIGINT, and so
        # would every program it starts: the tests that press Ctrl-C in one would wait in vain.
        # With a handler here, the programs start with the default, as from a terminal.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    where = _tested_package()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if os.environ.get("SHMSTRUCT_TEST_INSTALLED") and where == os.path.join(root, "src", "shmstruct"):
        raise pytest.UsageError(
            f"SHMSTRUCT_TEST_INSTALLED is set, but shmstruct was imported from the source tree ({where})"
        )


def pytest_report_header() -> str:
    """Which shmstruct the suite tests, and the prefix of this run's segment names."""
    return f"shmstruct from {_tested_package()}; segment names of this run start with {RUN_PREFIX}"


@pytest.fixture(params=START_METHODS)
def ctx(request: pytest.FixtureRequest) -> BaseContext:
    """A multiprocessing context for each start method."""
    return mp.get_context(request.param)


@pytest.fixture(scope="session")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A mypy cache for this run: the first check reads the stubs of numpy, pydantic and shmstruct
    (seconds of work), later checks with the same options reuse them. A fresh one per run, so
    nothing carries over from an earlier version of the code."""
    return tmp_path_factory.mktemp("mypy-cache")


@pytest.fixture(autouse=True)
def no_thread_left_running() -> Iterator[None]:
    """A test joins every thread it starts, directly or through a queue, pool or executor: a
    thread left running makes a later fork() copy a process in the middle of something (Python
    3.12+ warns that it may deadlock)."""
    before = set(threading.enumerate())
    yield
    left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    if left:
        pytest.fail(f"the test left threads running: {left}", pytrace=False)


def _describe(names: set[str]) -> str:
    """What ``python -m shmstruct list`` says about the segments ``names`` (shms_ entries)."""
    listed = subprocess.run(
        [sys.executable, "-m", "shmstruct", "list", "--json"],
        capture_output=True,
        text=True,
        timeout=JOIN_TIMEOUT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(SOURCE_PATH)},
        cwd="/",
    )
    try:
        entries = [e for e in json.loads(listed.stdout)["segments"] if f"shms_{e.get('name')}" in names]
    except (ValueError, KeyError, TypeError):
        return listed.stdout + listed.stderr
    return "\n".join(json.dumps(e) for e in entries)


@pytest.fixture(scope="session", autouse=True)
def no_leaked_shared_memory() -> Iterator[None]:
    """After the whole suite, nothing of this run is left in /dev/shm (once the watchers and
    resource trackers of exited processes have done their work: waiting for them is a hang guard)."""
    yield
    gc.collect()
    wait_until(lambda: not ours_in_dev_shm())
    leaked = ours_in_dev_shm()
    assert not leaked, f"shared memory left behind by the suite: {sorted(leaked)}\n{_describe(leaked)}"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a Redis server of this run (started on a free port; skips without redis-server)."""
    from redis_helpers import RedisServer

    server = RedisServer(tmp_path_factory.mktemp("redis"))
    try:
        yield server.url
    finally:
        server.stop()
