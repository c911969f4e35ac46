"""Who removes a segment, and when: normal exits, exceptions, SIGKILL, explicit close, keep, and
references in flight. Nothing of ours may stay in /dev/shm once the last user is gone."""

from __future__ import annotations

import os
import pathlib
import pickle
import signal
from multiprocessing.context import BaseContext

import pytest
from array_helpers import EveryType, Particle
from conftest import ours_in_dev_shm
from helpers import JOIN_TIMEOUT, Counter, Script, finish, hold_until, segment_exists, unique_name, wait_until

CREATOR = """
from helpers import Counter
c = Counter.options(name={name!r})(value=1)
print("created", flush=True)
sys.stdin.readline()
{ending}
"""

ATTACHER = """
from helpers import Counter
c = Counter.attach({name!r})
print("attached", flush=True)
sys.stdin.readline()
with c.lock:
    c.value += 1
print("value", c.value, flush=True)
sys.stdin.readline()
"""


def test_the_last_of_several_users_removes_the_segment(tmp_path: pathlib.Path) -> None:
    name = unique_name("life-last-user")
    creator = Script(str(tmp_path), CREATOR.format(name=name, ending=""), "creator")
    creator.expect("created")
    user = Script(str(tmp_path), ATTACHER.format(name=name), "user")
    user.expect("attached")
    creator.send("")
    assert creator.finish() == (0, "")
    assert segment_exists(name)  # the creator has gone, the user has not
    user.send("")
    assert user.expect("value") == "value 2"  # the memory and the lock still work
    user.send("")
    assert user.finish() == (0, "")
    assert not segment_exists(name)  # the last user removed it on its way out


def test_a_killed_last_user_is_cleaned_up_by_the_watcher(tmp_path: pathlib.Path) -> None:
    name = unique_name("life-killed-user")
    creator = Script(str(tmp_path), CREATOR.format(name=name, ending=""), "creator")
    creator.expect("created")
    user = Script(str(tmp_path), ATTACHER.format(name=name), "user")
    user.expect("attached")
    creator.send("")
    assert creator.finish()[0] == 0  # hands the name to a watcher process
    assert segment_exists(name)
    os.kill(user.pid, signal.SIGKILL)
    user.finish()
    assert wait_until(lambda: not segment_exists(name))


@pytest.mark.parametrize("ending", ["os.kill(os.getpid(), 9)", "raise RuntimeError('boom')", "sys.exit(0)"])
def test_a_lone_creator_leaves_nothing_however_it_ends(tmp_path: pathlib.Path, ending: str) -> None:
    name = unique_name(f"life-lone-creator-{ending.split()[0].split('(')[0]}")
    creator = Script(str(tmp_path), "import os\n" + CREATOR.format(name=name, ending=ending), "creator")
    creator.expect("created")
    creator.send("")
    creator.finish()
    assert wait_until(lambda: not segment_exists(name))  # SIGKILL: multiprocessing's resource tracker


def test_a_killed_creator_does_not_break_attached_users(tmp_path: pathlib.Path) -> None:
    name = unique_name("life-killed-creator")
    creator = Script(str(tmp_path), CREATOR.format(name=name, ending=""), "creator")
    creator.expect("created")
    user = Script(str(tmp_path), ATTACHER.format(name=name), "user")
    user.expect("attached")
    os.kill(creator.pid, signal.SIGKILL)
    creator.finish()
    user.send("")
    assert user.expect("value") == "value 2"  # its mapping is intact, whatever happened to the name
    user.send("")
    assert user.finish()[0] == 0
    assert wait_until(lambda: not segment_exists(name))


def test_context_managers_and_close_remove_at_once() -> None:
    with Counter(value=2) as c:
        name = c.name
        assert c.value == 2 and segment_exists(name)
    assert not segment_exists(name)
    c.close()  # twice is fine
    with Particle.table(4) as table, Particle.log(4) as log:
        names = (table.name, log.name)
    assert not any(map(segment_exists, names))


def test_ten_thousand_create_close_cycles_leave_nothing_behind() -> None:
    Counter().close()  # the first block of a process starts multiprocessing's resource tracker (one pipe)
    before_shm, before_fds = ours_in_dev_shm(), len(os.listdir("/proc/self/fd"))
    for _ in range(10_000):
        with Counter(value=1) as c:
            c.value += 1
    del c  # (before Python 3.13 a live mapping holds a descriptor)
    assert ours_in_dev_shm() == before_shm
    assert len(os.listdir("/proc/self/fd")) == before_fds


def test_a_reference_in_flight_outlives_its_sender(tmp_path: pathlib.Path) -> None:
    sender = Script(
        str(tmp_path),
        """
        import pickle
        from helpers import Counter
        c = Counter(value=9)
        print("pickle", pickle.dumps(c).hex(), flush=True)
        c.close()
        """,
        "sender",
    )
    data = bytes.fromhex(sender.expect("pickle").split()[1])
    assert sender.finish()[0] == 0  # the sender stopped using it and exited
    received = pickle.loads(data)
    assert received.value == 9
    name = received.name
    received.close()
    assert wait_until(lambda: not segment_exists(name))


def test_a_numpy_view_alone_keeps_the_segment_in_use() -> None:
    s = EveryType()
    name, samples = s.name, s.samples
    del s
    assert segment_exists(name)  # the view keeps this process a user
    again = EveryType.attach(name)
    again.samples[:] = 4
    assert samples.tolist() == [4] * 5  # still the same memory
    del again, samples
    assert not segment_exists(name)


def test_a_child_that_got_the_struct_as_an_argument_is_a_user_until_it_exits(ctx: BaseContext) -> None:
    # Under forkserver the child unpickles its arguments before multiprocessing's bootstrap, which
    # clears the finalizers registered so far: the child must still give up its use at exit.
    s = Counter()
    name = s.name
    ready, done = ctx.Event(), ctx.Event()
    child = ctx.Process(target=hold_until, args=(s, ready, done))
    child.start()
    assert ready.wait(JOIN_TIMEOUT)
    s.close()
    if ctx.get_start_method() != "fork":  # a forked child shares its parent's entry instead
        assert segment_exists(name)  # the child still uses it
    done.set()
    finish(child)
    assert wait_until(lambda: not segment_exists(name))
