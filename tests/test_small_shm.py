"""A small or full /dev/shm: creation fails with a clear ENOSPC error and leaves nothing behind;
what was created never dies of SIGBUS later. Each scenario runs in a private mount namespace with
its own 8 MiB tmpfs on /dev/shm (``unshare -m``), so it disturbs no other segment on the machine."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap

import pytest
from helpers import JOIN_TIMEOUT, SOURCE_PATH, TESTS_DIR


def _private_shm_available() -> str | None:
    """Why the scenarios cannot run here, or None."""
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=8m tmpfs /dev/shm"],
        capture_output=True,
        text=True,
        timeout=JOIN_TIMEOUT,
    )
    if probe.returncode != 0:
        return f"a private mount namespace with its own /dev/shm is not allowed here: {probe.stderr.strip()}"
    return None


_WHY_NOT = _private_shm_available()
pytestmark = pytest.mark.skipif(_WHY_NOT is not None, reason=str(_WHY_NOT))


def run_in_small_shm(code: str, size: str = "8m") -> str:
    """Run ``code`` in a fresh Python under its own ``size`` tmpfs on /dev/shm; return its output.
    The program must print ``left: []`` style lines itself; a signal death fails the test."""
    program = f"import sys\nsys.path[:0] = {[TESTS_DIR, *SOURCE_PATH]!r}\n" + textwrap.dedent(code)
    shell = f'mount -t tmpfs -o size={size} tmpfs /dev/shm && exec {sys.executable} -c "$0"'
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", shell, program], capture_output=True, text=True, timeout=JOIN_TIMEOUT * 2
    )
    assert done.returncode == 0, (
        f"exit status {done.returncode} (negative: killed by that signal)\n{done.stdout}\n{done.stderr}"
    )
    return done.stdout


def test_too_large_for_dev_shm_is_a_clear_error_and_leaves_nothing() -> None:
    out = run_in_small_shm(
        """
        import errno, os
        import numpy as np
        from numpy.typing import NDArray
        import shmstruct
        from shmstruct import SharedStruct, array

        class Big(SharedStruct):
            data: NDArray[np.float64] = array(8 * 1024 * 1024)   # 64 MiB

        class Row(SharedStruct):
            x: float = 1.0
            y: float = 2.0

        for make in (lambda: Big(), lambda: Row.table(1_000_000), lambda: Row.log(1_000_000)):
            try:
                make()
            except shmstruct.SharedMemoryFullError as exc:
                assert isinstance(exc, OSError) and isinstance(exc, shmstruct.ShmStructError)
                assert exc.errno == errno.ENOSPC, exc.errno
                print("refused:", "needs" in str(exc), "--shm-size" in str(exc), "gc" in str(exc))
            print("left:", os.listdir("/dev/shm"))
        """
    )
    assert out.splitlines() == ["refused: True True True", "left: []"] * 3, out


def test_a_full_dev_shm_refuses_even_a_small_struct() -> None:
    out = run_in_small_shm(
        """
        import os
        import shmstruct
        from shmstruct import SharedStruct

        class One(SharedStruct):
            n: int = 0

        with open("/dev/shm/filler", "wb") as filler:   # not ours: fills the tmpfs
            try:
                while True:
                    filler.write(b"x" * 65536)
                    filler.flush()
            except OSError:
                pass
        try:
            One()
        except shmstruct.SharedMemoryFullError as exc:
            print("refused")
        print("left:", sorted(os.listdir("/dev/shm")))
        """
    )
    assert out.splitlines() == ["refused", "left: ['filler']"], out


def test_what_was_created_can_be_written_in_full() -> None:
    # Fill the tmpfs with segments until one is refused; then every byte of every created segment
    # can be written (with lazily allocated pages this dies of SIGBUS).
    out = run_in_small_shm(
        """
        import os
        import numpy as np
        from numpy.typing import NDArray
        import shmstruct
        from shmstruct import SharedStruct, array

        class Chunk(SharedStruct):
            data: NDArray[np.uint8] = array(1024 * 1024)

        class Row(SharedStruct):
            seq: int = 0
            pad: NDArray[np.uint8] = array(1000)

        made, refused = [], 0
        while refused == 0:
            try:
                made.append(Chunk())
            except shmstruct.SharedMemoryFullError:
                refused += 1
        for chunk in made:
            chunk.data[:] = 7
            chunk.data = np.full(chunk.data.shape, 9, dtype=np.uint8)
        print("chunks written:", len(made) >= 5, all(int(c.data.sum()) == 9 * 1024 * 1024 for c in made))
        for chunk in made[:3]:
            chunk.close()
        del made[:3], chunk
        import gc
        gc.collect()   # unmapped: their pages are free again
        log = Row.log(1500)
        appended = 0
        try:
            while True:
                log.append(seq=appended)
                appended += 1
        except shmstruct.LogFullError:
            pass
        print("appended:", appended)
        """
    )
    assert out.splitlines() == ["chunks written: True True", "appended: 1500"], out


def test_kills_during_create_and_close_leave_nothing_after_gc() -> None:
    # 40 SIGKILLs at random moments of a loop that creates, attaches and closes structs, tables
    # and logs. Whatever the kills leave (a half-made file, a segment whose users are all dead),
    # the normal cleanup or "python -m shmstruct gc" removes. Each worker is forked from a program
    # that has imported everything but created nothing: it starts its own resource tracker, as a
    # program started on its own does, without paying for the imports 40 times.
    out = run_in_small_shm(
        f"""
        import os, random, signal, subprocess, threading, time
        from array_helpers import Particle
        from helpers import Counter
        PATHS = {[TESTS_DIR, *SOURCE_PATH]!r}
        env = {{**os.environ, "PYTHONPATH": os.pathsep.join(PATHS)}}
        rng = random.Random(7)
        pause = threading.Event()
        for _ in range(40):
            ready, say_ready = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.write(say_ready, b"r")
                i = 0
                while True:
                    c = Counter(value=i)
                    t = Particle.table(50)
                    log = Particle.log(20)
                    log.append(x=1.0)
                    again = Counter.attach(c.name)
                    c.close(); t.close(); log.close()
                    i += 1
            os.close(say_ready)
            assert os.read(ready, 1) == b"r"
            os.close(ready)
            pause.wait(rng.uniform(0.0, 0.05))
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        # gc judges a half-made file only once it is older than the creation window: age them all
        # (every creator is dead) rather than wait for the window to pass.
        for entry in os.listdir("/dev/shm"):
            try:
                os.utime(os.path.join("/dev/shm", entry), ns=(0, time.time_ns() - 60 * 10**9))
            except FileNotFoundError:
                pass  # a killed worker's resource tracker removed it meanwhile
        gc = subprocess.run([sys.executable, "-m", "shmstruct", "gc"], capture_output=True, text=True, env=env)
        print("gc:", gc.returncode, "left alone" not in gc.stdout)
        for _ in range(600):  # resource trackers of killed workers may still be removing names
            if not os.listdir("/dev/shm"):
                break
            pause.wait(0.1)
        print("left:", os.listdir("/dev/shm"))
        """
    )
    assert out.splitlines() == ["gc: 0 True", "left: []"], out


def test_gc_removes_only_what_nobody_uses() -> None:
    out = run_in_small_shm(
        """
        import os, subprocess, sys
        from helpers import Counter
        from shmstruct._inspect import collect_garbage

        used = Counter(value=1)
        kept = Counter.options(name="kept", keep=True)()
        orphan = Counter.options(name="orphan")()
        from shmstruct._header import slot_offset, write_field
        write_field(orphan._block_.mmap, slot_offset(0), 4_000_000)   # its only user is a dead process
        orphan._block_._slot[0] = -1
        half = os.open("/dev/shm/shms_half", os.O_CREAT | os.O_RDWR, 0o600)   # a creator that died early
        os.ftruncate(half, 4096)
        os.utime(half, (0, 0))
        os.close(half)
        collected = collect_garbage()
        print("removed:", sorted(collected.removed))
        print("skipped:", collected.skipped)
        print("left:", sorted(os.listdir("/dev/shm")) == sorted(["shms_" + used.name, "shms_kept"]))
        """
    )
    assert out.splitlines() == ["removed: ['half', 'orphan']", "skipped: []", "left: True"], out


def test_reserve_false_creates_sparse_segments_larger_than_dev_shm() -> None:
    out = run_in_small_shm(
        """
        import numpy as np
        from numpy.typing import NDArray
        from shmstruct import SharedStruct, array

        class Sparse(SharedStruct):
            data: NDArray[np.float64] = array(8 * 1024 * 1024)   # 64 MiB in an 8 MiB tmpfs

        s = Sparse.options(reserve=False)()
        s.data[::1024 * 1024] = 1.0   # a few pages only
        print("sum:", float(s.data[::1024 * 1024].sum()))
        """
    )
    assert out.splitlines() == ["sum: 8.0"], out
