"""Hostile or careless surroundings: what a working directory, a bad option or a damaged file can
make the library do (nothing harmful)."""

from __future__ import annotations

import pathlib

import pytest

from helpers import Counter, Script, segment_exists, wait_until


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
    assert wait_until(lambda: not segment_exists(name), timeout=30), "the watcher did not remove the segment"
    assert not marker.exists(), "the watcher imported code from the creator's working directory"


@pytest.mark.parametrize("mode", [-1, 0o1000, 0o7777, 1.5, "0o600", True, None])
def test_mode_takes_permission_bits_only(mode: object) -> None:
    with pytest.raises(ValueError, match=r"mode must be permission bits from 0 to 0o777"):
        Counter.options(mode=mode)()  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"mode must be permission bits"):
        Counter.table(2, mode=mode)  # type: ignore[arg-type]


def test_every_permission_mode_is_kept_exactly() -> None:
    import os

    with Counter.options(mode=0o640)() as c:
        assert os.stat(f"/dev/shm/shms_{c.name}").st_mode & 0o7777 == 0o640
