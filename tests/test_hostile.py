"""Hostile or careless surroundings: what a working directory, a bad option or a damaged file can
make the library do (nothing harmful)."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import pathlib
import resource
import subprocess
import sys
from typing import Any

import pytest
from helpers import JOIN_TIMEOUT, SOURCE_PATH, Counter, Script, segment_exists, unique_name, wait_until
from sync_helpers import Tick, attach_and_report

import shmstruct


def test_the_watcher_never_imports_from_the_working_directory(tmp_path: pathlib.Path) -> None:
    # A creator that exits while another process uses its struct leaves a watcher behind. It must
    # run this installation of shmstruct, not a "shmstruct" package in the creator's working directory.
    work = tmp_path / "work"
    (work / "shmstruct").mkdir(parents=True)
    marker = tmp_path / "planted-code-ran"
    (work / "shmstruct" / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (work / "shmstruct" / "_janitor.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    script = Script(
        str(tmp_path),
        """
        from helpers import Counter
        c = Counter(value=5)
        print("name", c.name, flush=True)
        sys.stdin.readline()
        """,
        cwd=str(work),
    )
    name = script.expect("name").split()[1]
    user = Script(  # another user, killed later: then only the watcher can remove the segment
        str(tmp_path),
        f"""
        from helpers import Counter
        c = Counter.attach({name!r})
        print("attached", c.value, flush=True)
        sys.stdin.readline()
        """,
        name="user",
    )
    assert user.expect("attached") == "attached 5"
    script.send("exit")
    assert script.finish()[0] == 0
    assert segment_exists(name)
    user.process.kill()
    user.finish()
    assert wait_until(lambda: not segment_exists(name)), "the watcher did not remove the segment"
    assert not marker.exists(), "the watcher imported code from the creator's working directory"


@pytest.mark.parametrize("mode", [-1, 0o1000, 0o7777, 1.5, "0o600", True, None])
def test_mode_takes_permission_bits_only(mode: object) -> None:
    with pytest.raises(ValueError, match=r"mode must be permission bits from 0 to 0o777"):
        Counter.options(mode=mode)()  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"mode must be permission bits"):
        Counter.table(2, mode=mode)  # type: ignore[arg-type]


def test_every_permission_mode_is_kept_exactly() -> None:
    with Counter.options(mode=0o640)() as c:
        assert os.stat(f"/dev/shm/shms_{c.name}").st_mode & 0o7777 == 0o640


# --------------------------------------------------------------------------- identity


def test_a_restarted_service_keeps_its_new_segment(tmp_path: pathlib.Path) -> None:
    # A service creates a segment with a fixed name, is SIGKILLed and restarted: the new segment
    # of that name is not the old one. An old user must neither remove it nor be handed the old one.
    name = unique_name("svc")

    def start_service(value: int) -> Script:
        service = Script(
            str(tmp_path),
            f"""
            from helpers import Counter
            c = Counter.options(name={name!r})(value={value})
            print("up", flush=True)
            sys.stdin.readline()
            """,
            name=f"service{value}",
        )
        assert service.expect("up") == "up"
        return service

    first = start_service(1)
    old = Counter.attach(name)
    assert old.value == 1
    first.process.kill()
    first.finish()
    assert wait_until(lambda: not segment_exists(name))  # its resource tracker removed the name
    second = start_service(2)
    fresh = Counter.attach(name)  # the new segment, not this process's cached old one
    assert fresh.value == 2 and old.value == 1
    old.close()  # the old user stops: the new segment stays
    assert segment_exists(name) and Counter.attach(name).value == 2
    fresh.close()
    second.send("exit")
    assert second.finish()[0] == 0
    assert wait_until(lambda: not segment_exists(name))


# --------------------------------------------------------------------------- strange files


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(SOURCE_PATH)}
    return subprocess.run(
        [sys.executable, "-m", "shmstruct", *args],
        capture_output=True,
        text=True,
        timeout=JOIN_TIMEOUT,
        env=env,
        cwd="/",
    )


def _plant(kind: str, name: str) -> None:
    path = f"/dev/shm/shms_{name}"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        os.mkdir(path)
    elif kind == "symlink":
        os.symlink("/etc/hostname", path)
    elif kind == "random":
        with open(path, "wb") as planted:
            planted.write(os.urandom(5000))
    elif kind == "empty":
        open(path, "wb").close()
    elif kind == "bomb":  # a real header whose description inflates to 256 MiB
        import hashlib
        import struct as st
        import zlib

        from shmstruct._header import FIXED_PART

        healthy = Counter(value=1)
        with open(f"/dev/shm/shms_{healthy.name}", "rb") as source:
            image = bytearray(source.read())
        healthy.close()
        raw = b"{" + b" " * (256 << 20) + b"}"
        bomb = zlib.compress(raw, 9)
        header_size = -(-(FIXED_PART + len(bomb)) // 64) * 64
        data = image[st.unpack_from("<Q", image, 16)[0] :]
        image = image[:FIXED_PART] + bomb + bytes(header_size - FIXED_PART - len(bomb))
        st.pack_into("<Q", image, 16, header_size)
        st.pack_into("<32s", image, 32, hashlib.sha256(raw).digest())
        st.pack_into("<Q", image, 120, len(bomb))
        with open(path, "wb") as planted:
            planted.write(image + data)


STRANGE = ["fifo", "directory", "symlink", "random", "empty", "bomb"]


@pytest.mark.parametrize("kind", STRANGE)
def test_strange_entries_are_refused_without_hanging_or_crashing(kind: str) -> None:
    name = unique_name(f"strange-{kind}")
    healthy = Counter.options(name=unique_name(f"healthy-{kind}"))(value=3)
    _plant(kind, name)
    path = f"/dev/shm/shms_{name}"
    try:
        peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with pytest.raises(shmstruct.SegmentError) as refused:
            Counter.attach(name)
        assert name in str(refused.value)
        assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before < 100_000  # KiB: nothing inflated
        listed = _cli("list")
        assert listed.returncode == 0, listed.stderr
        lines = listed.stdout.splitlines()
        assert any(line.startswith(healthy.name) and "Counter" in line for line in lines), listed.stdout
        assert any(line.startswith(f"{name}: ") for line in lines), listed.stdout
        shown = _cli("show", name)
        assert shown.returncode == 1 and name in shown.stderr
        removed = _cli("remove", name)
        if kind in ("fifo", "directory", "symlink"):
            assert removed.returncode == 1 and os.path.lexists(path), removed.stderr  # never followed nor removed
        else:
            assert removed.returncode == 0 and not os.path.lexists(path), removed.stderr  # a damaged file goes
    finally:
        if os.path.isdir(path) and not os.path.islink(path):
            os.rmdir(path)
        elif os.path.lexists(path):
            os.unlink(path)
        healthy.close()


def test_a_damaged_lock_record_is_refused() -> None:
    from shmstruct._header import LOCK

    c = Counter()
    mapping = c._block_.mmap  # type: ignore[attr-defined]
    name = unique_name("damaged-lock")
    with open(f"/dev/shm/shms_{c.name}", "rb") as source:
        image = bytearray(source.read())
    image[LOCK + 16 : LOCK + 20] = (0x7F).to_bytes(4, "little")  # glibc's __kind: no such mutex kind
    with open(f"/dev/shm/shms_{name}", "wb") as planted:
        planted.write(image)
    try:
        with pytest.raises(shmstruct.SegmentError, match="is damaged: its record is not a robust process-shared mutex"):
            Counter.attach(name)
    finally:
        os.unlink(f"/dev/shm/shms_{name}")
        del mapping
        c.close()


# --------------------------------------------------------------------------- users and removal


def test_a_segment_refuses_a_user_past_its_users_table() -> None:
    from shmstruct._header import SLOTS, slot_offset, write_field

    c = Tick(count=1)
    mapping = c._block_.mmap  # type: ignore[attr-defined]
    for index in range(1, SLOTS):
        write_field(mapping, slot_offset(index), 1)  # pid 1 (init) is alive: every slot is taken
    results = mp.get_context("spawn").Queue()
    child = mp.get_context("spawn").Process(target=attach_and_report, args=(c.name, results))
    child.start()
    kind, message = results.get(timeout=JOIN_TIMEOUT)
    child.join(JOIN_TIMEOUT)
    assert kind == "SegmentError" and f"used by {SLOTS} live processes already" in message, message
    for index in range(1, SLOTS):
        write_field(mapping, slot_offset(index), 0)
    del mapping
    c.close()


def test_remove_refuses_a_segment_in_use_unless_forced(tmp_path: pathlib.Path) -> None:
    c = Counter.options(keep=True)(value=1)
    user = Script(
        str(tmp_path),
        f"""
        from helpers import Counter
        c = Counter.attach({c.name!r})
        print("attached", flush=True)
        sys.stdin.readline()
        """,
    )
    user.expect("attached")
    refused = _cli("remove", c.name)
    assert refused.returncode == 1 and str(user.pid) in refused.stderr and "--force" in refused.stderr
    assert segment_exists(c.name)
    forced = _cli("remove", "--force", c.name)
    assert forced.returncode == 0 and not segment_exists(c.name)
    assert c.value == 1  # the mapping stays valid
    user.send("exit")
    assert user.finish()[0] == 0
    c.close()


def test_show_of_a_segment_whose_lock_stays_held_says_so() -> None:
    c = Counter(value=4)
    with c.lock:
        shown = _cli("show", "--json", c.name)
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    assert report["values"] == {"value": 4} and report["consistent"] is False
    assert f"the lock stayed held (by process {os.getpid()})" in report["note"]
    c.close()


def _as_another_user(name: str, results: Any) -> None:
    """In a forked child: become user nobody, then try to show and attach segment ``name``."""
    from shmstruct._block import _open_blocks
    from shmstruct._contents import Selection, read_contents
    from shmstruct._render import show_document

    _open_blocks.clear()  # attach as a stranger would, not through the mapping inherited from the parent
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    outcome: list[Any] = []
    try:
        report = show_document(read_contents(name, Selection(None, 5)))
        outcome.append(("show", report["values"], report["consistent"], report["note"]))
    except (shmstruct.ShmStructError, OSError) as exc:
        outcome.append(("show", type(exc).__name__))
    try:
        Counter.attach(name)
        outcome.append(("attach", "attached"))
    except (shmstruct.ShmStructError, OSError) as exc:
        outcome.append(("attach", type(exc).__name__))
    try:
        shmstruct.unlink(name)
        outcome.append(("unlink", "removed"))
    except (shmstruct.ShmStructError, OSError) as exc:
        outcome.append(("unlink", type(exc).__name__))
    results.put(outcome)


READ_ONLY_NOTE = "read-only access: the values were read without the lock, and may mix two moments"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another user")
def test_another_user_may_read_what_the_mode_allows_and_nothing_more() -> None:
    ctx = mp.get_context("fork")  # the child drops its privileges after importing everything
    readable = Counter.options(mode=0o644)(value=7)
    private = Counter(value=8)  # 0o600
    for segment, expected in (
        (readable, [("show", {"value": 7}, False, READ_ONLY_NOTE),
                    ("attach", "PermissionError"), ("unlink", "PermissionError")]),
        (private, [("show", "PermissionError"), ("attach", "PermissionError"), ("unlink", "PermissionError")]),
    ):  # fmt: skip
        results = ctx.Queue()
        child = ctx.Process(target=_as_another_user, args=(segment.name, results))
        child.start()
        assert results.get(timeout=JOIN_TIMEOUT) == expected
        child.join(JOIN_TIMEOUT)
        assert segment_exists(segment.name)
    readable.close()
    private.close()


def test_seventy_users_keep_a_segment_until_the_last_one_goes(tmp_path: pathlib.Path) -> None:
    from sync_helpers import Turn

    users = 70
    target, control = Counter(value=1), Turn()
    name = target.name
    # The users are forked by a program that imports everything once and opens no segment itself:
    # each attaches by name, a user of its own, without paying for the imports 70 times.
    launcher = Script(
        str(tmp_path),
        f"""
        import multiprocessing as mp
        from helpers import JOIN_TIMEOUT, Counter
        from sync_helpers import Turn, hold_as_user

        def user(index):
            hold_as_user(Counter.attach({name!r}), Turn.attach({control.name!r}), index)

        children = [mp.get_context("fork").Process(target=user, args=(i,)) for i in range({users})]
        for child in children:
            child.start()
        sys.stdin.readline()
        for child in children[:-1]:
            child.join(JOIN_TIMEOUT)
        print("exited:", sorted({{child.exitcode for child in children[:-1]}}), flush=True)
        children[-1].join(JOIN_TIMEOUT)
        print("last exited:", children[-1].exitcode, flush=True)
        """,
        "launcher",
    )
    with control.lock:
        assert control.lock.wait_for(lambda: control.rounds == users, timeout=JOIN_TIMEOUT * 5)  # a hang guard
    target.close()  # the creator stops using it: 70 others still do
    del target
    with control.lock:
        control.turn = users - 1  # let all but the last go
        control.lock.notify_all()
    launcher.send("")
    assert launcher.expect("exited:") == "exited: [0]"
    assert segment_exists(name), "removed while a process still used it"
    with control.lock:
        control.turn = users
        control.lock.notify_all()
    assert launcher.expect("last exited:") == "last exited: 0"
    assert launcher.finish() == (0, "")
    assert wait_until(lambda: not segment_exists(name))
    control.close()
