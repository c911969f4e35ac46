"""Shared fixtures: the start-method matrix and the shared-memory leak check."""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
from collections.abc import Iterator
from multiprocessing.context import BaseContext

import pytest

START_METHODS = ["fork", "spawn", "forkserver"]


def ours_in_dev_shm() -> set[str]:
    """Shared-memory entries that shmstruct creates (its segments; the locks live inside them)."""
    if not os.path.isdir("/dev/shm"):
        return set()
    return {n for n in os.listdir("/dev/shm") if n.startswith("shms_")}


def _tested_package() -> str:
    import shmstruct

    return os.path.dirname(os.path.abspath(shmstruct.__file__))


def pytest_configure(config: pytest.Config) -> None:
    """With SHMSTRUCT_TEST_INSTALLED set, the suite must test the installed package, not the source tree."""
    where = _tested_package()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if os.environ.get("SHMSTRUCT_TEST_INSTALLED") and where == os.path.join(root, "shmstruct"):
        raise pytest.UsageError(
            f"SHMSTRUCT_TEST_INSTALLED is set, but shmstruct was imported from the source tree ({where})"
        )


def pytest_report_header() -> str:
    """Which shmstruct the suite tests: the source tree (an editable install) or an installed wheel."""
    return f"shmstruct from {_tested_package()}"


@pytest.fixture(params=START_METHODS)
def ctx(request: pytest.FixtureRequest) -> BaseContext:
    """A multiprocessing context for each start method."""
    return mp.get_context(request.param)


@pytest.fixture(scope="session", autouse=True)
def no_leaked_shared_memory() -> Iterator[None]:
    """After the whole suite, nothing of ours is left in /dev/shm. (Set SHMSTRUCT_SKIP_LEAK_CHECK=1
    when another program on the machine creates segments at the same time.)"""
    before = ours_in_dev_shm()
    yield
    if os.environ.get("SHMSTRUCT_SKIP_LEAK_CHECK"):
        return
    gc.collect()
    leaked = ours_in_dev_shm() - before
    assert not leaked, f"shared memory left behind by the suite: {sorted(leaked)}"
