"""CPython's private pieces behind shmstruct._cpython, and the one reconstructor for every pickled
kind: the resource tracker's protocol is checked by behaviour (and a changed one turns the fast
path off), a SIGKILLed creator's segment is removed by the tracker with the fast path and with the
public API, every start method; every pickled kind comes back through one function, attaching in
one header-lock section; class-namespace annotations on every Python."""

from __future__ import annotations

import pathlib
import pickle
import sys
import textwrap
from typing import ClassVar

import pytest
from array_helpers import Particle
from helpers import Counter, Script, segment_exists, unique_name, wait_until

from shmstruct import _cpython
from shmstruct._inspect import Settled, settle
from shmstruct._lifecycle import Reference, What, reconstruct

# --------------------------------------------------------------------------- the tracker's protocol


def _expected_line_protocol() -> bool:
    """What the check should find on this Python, read from the tracker module's own flags: the
    old line format unless the module writes JSON (3.14.1 and 3.13.10 always, 3.15 by default)."""
    from multiprocessing import resource_tracker

    simple = getattr(resource_tracker.ResourceTracker(), "_use_simple_format", None)
    if simple is not None:
        return bool(simple)
    return "json" not in vars(resource_tracker)


def test_the_check_reads_this_python_s_tracker_and_touches_no_real_tracker(tmp_path: pathlib.Path) -> None:
    script = Script(
        str(tmp_path),
        """
        from multiprocessing import resource_tracker
        from shmstruct import _cpython
        print("lines", _cpython.tracker_writes_lines(), flush=True)
        live = resource_tracker._resource_tracker
        print("untouched", live._fd is None and live._pid is None, flush=True)
        """,
    )
    assert script.expect("lines") == f"lines {_expected_line_protocol()}"
    assert script.expect("untouched") == "untouched True"  # no tracker started, no message sent
    assert script.finish() == (0, "")


@pytest.mark.parametrize(
    "change",
    [
        # what 3.14.1 and 3.13.10 wrote (gh-98896), and 3.15 writes by default
        """
        import base64, json
        def _send(self, cmd, name, rtype):
            b64 = base64.urlsafe_b64encode(name.encode()).decode()
            msg = json.dumps({"cmd": cmd, "rtype": rtype, "base64_name": b64}, separators=(",", ":")) + "\\n"
            self._fd is not None and os.write(self._fd, msg.encode())
        resource_tracker.ResourceTracker._send = _send
        """,
        # a writer that fails in some new way
        """
        def _send(self, cmd, name, rtype):
            raise AttributeError("_fd moved")
        resource_tracker.ResourceTracker._send = _send
        """,
        # a program that replaced the public function (to silence or redirect tracking)
        """
        resource_tracker.register = lambda name, rtype: None
        """,
        # a tracker object of another shape
        """
        del resource_tracker.ResourceTracker
        """,
    ],
    ids=["json-lines", "failing-writer", "public-api-replaced", "no-tracker-class"],
)
def test_a_changed_tracker_turns_the_fast_path_off(tmp_path: pathlib.Path, change: str) -> None:
    script = Script(
        str(tmp_path),
        "import os\nfrom multiprocessing import resource_tracker\n"
        + textwrap.dedent(change)
        + "from shmstruct import _cpython\nprint('lines', _cpython.tracker_writes_lines(), flush=True)\n",
    )
    assert script.expect("lines") == "lines False"
    assert script.finish() == (0, "")


KILLED_CREATOR = """
import multiprocessing as mp
import os
import signal
import threading

def create(name, public_api, created):
    from shmstruct import _cpython
    if public_api:
        _cpython._line_protocol = False  # as when the check fails: the public register() only
    from helpers import Counter
    counter = Counter.options(name=name)(value=1)
    created.put(_cpython.tracker_writes_lines())
    threading.Event().wait()

if __name__ == "__main__":
    ctx = mp.get_context({method!r})
    created = ctx.Queue()
    child = ctx.Process(target=create, args=({name!r}, {public_api!r}, created))
    child.start()
    print("created", created.get(timeout=60), flush=True)
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    print("killed", child.exitcode, flush=True)
"""


@pytest.mark.parametrize("public_api", [False, True], ids=["fast-path", "public-api"])
@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_the_tracker_removes_a_sigkilled_creator_s_segment(
    tmp_path: pathlib.Path, method: str, public_api: bool
) -> None:
    name = unique_name(f"cpython-killed-{method}-{int(public_api)}")
    script = Script(str(tmp_path), KILLED_CREATOR.format(name=name, method=method, public_api=public_api))
    fast = _expected_line_protocol() and not public_api
    assert script.expect("created") == f"created {fast}"
    assert script.expect("killed") == "killed -9"
    assert script.finish()[0] == 0
    # The tracker removes it once every process holding its pipe has gone (the killed child's
    # own tracker with fork; the script's with spawn and forkserver).
    assert wait_until(lambda: not segment_exists(name), timeout=30.0)


# --------------------------------------------------------------------------- one reconstructor


def _kinds() -> tuple[list[object], list[object]]:
    counter = Counter(value=1)
    table = Particle.table(6)
    log = Particle.log(4)
    log.append(x=1.0)
    other = Counter(value=2)
    return [counter, table, log, other], [counter, table, table[3], table[2:4], log, other.lock]


def test_every_pickled_kind_comes_back_through_reconstruct() -> None:
    owners, kinds = _kinds()
    whats = [What.STRUCT, What.TABLE, What.STRUCT, What.TABLE, What.LOG, What.LOCK]
    for obj, what in zip(kinds, whats, strict=True):
        function, (reference,) = obj.__reduce__()  # type: ignore[attr-defined]
        assert function is reconstruct and isinstance(reference, Reference) and reference.what is what
        again = reconstruct(reference)  # the arrival of the reference just sent
        assert again is obj if what == What.LOCK else type(again) is type(obj)
    for owner in owners:
        owner.close()  # type: ignore[attr-defined]


COUNT_SECTIONS = """
import pickle
from shmstruct._lock import SharedLock
sections = []
original = SharedLock.bookkeeping
def counted(self, timeout=None):
    sections.append(self)
    return original(self, timeout)
SharedLock.bookkeeping = counted
payloads = pickle.load(open({path!r}, "rb"))
kept, counts = [], []
for label, data in payloads:
    before = len(sections)
    kept.append(pickle.loads(data))
    counts.append(f"{{label}}:{{len(sections) - before}}")
print("sections", *counts, flush=True)  # one line: the test reads it with one select
sys.stdin.readline()
"""


def test_each_unpickle_takes_the_header_lock_once(tmp_path: pathlib.Path) -> None:
    owners, kinds = _kinds()
    labels = ["struct", "table", "row", "slice", "log", "lock"]
    # Each kind twice: the first of a block opens it (claim a slot, count the arrival), the
    # second finds it open (count the arrival); the row and the slice find the table's block open.
    payloads = [
        (f"{label}-{turn}", pickle.dumps(obj)) for turn in (1, 2) for label, obj in zip(labels, kinds, strict=True)
    ]
    path = tmp_path / "payloads.pickle"
    path.write_bytes(pickle.dumps(payloads))
    script = Script(str(tmp_path), COUNT_SECTIONS.format(path=str(path)))
    assert script.expect("sections").split()[1:] == [f"{label}:1" for label, _ in payloads]
    script.send("")
    assert script.finish() == (0, "")
    for owner in owners:
        owner.close()  # type: ignore[attr-defined]


def test_settle_says_what_it_found() -> None:
    counter = Counter(value=1)
    block = counter._block_  # type: ignore[attr-defined]
    assert settle(counter.name, block.identity).outcome is Settled.WANTED  # this process uses it
    counter.close()
    assert not segment_exists(counter.name)
    settlement = settle(counter.name, block.identity)
    assert settlement.outcome is Settled.GONE and settlement.in_flight == 0


# --------------------------------------------------------------------------- annotations


class _Capture(type):
    seen: ClassVar[list[dict[str, object]]] = []

    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, object]) -> _Capture:
        _Capture.seen.append(_cpython.namespace_annotations(namespace))
        return super().__new__(mcs, name, bases, namespace)


def _annotations_of_source(source: str) -> dict[str, object]:
    _Capture.seen.clear()
    # dont_inherit: not this test module's ``from __future__ import annotations``
    exec(compile(textwrap.dedent(source), "<schema>", "exec", dont_inherit=True), {"_Capture": _Capture})
    return _Capture.seen[-1]


def test_namespace_annotations_evaluated_and_stringified() -> None:
    assert _annotations_of_source("class C(metaclass=_Capture):\n    a: int\n    b: 'Later'\n") == {
        "a": int,
        "b": "Later",
    }
    stringified = "from __future__ import annotations\nclass C(metaclass=_Capture):\n    a: int\n    b: Later\n"
    assert _annotations_of_source(stringified) == {"a": "int", "b": "Later"}
    assert _annotations_of_source("class C(metaclass=_Capture):\n    pass\n") == {}


@pytest.mark.skipif(sys.version_info < (3, 14), reason="lazily evaluated annotations are Python 3.14+")
def test_namespace_annotations_keep_forward_references_as_text() -> None:
    assert _annotations_of_source("class C(metaclass=_Capture):\n    a: int\n    b: Later\n") == {
        "a": int,
        "b": "Later",
    }
