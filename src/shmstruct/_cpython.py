"""Every use of CPython's private pieces, behind one door: one function per hack.

Each function says why shmstruct needs the private piece and what replaces it on a newer Python.
Nothing else in shmstruct touches ``multiprocessing``'s internals or the class-namespace
annotation machinery; when CPython changes one of them, this is the only file to read.

- :func:`track` / :func:`untrack`: multiprocessing's resource tracker, written to directly in
  its line protocol (``REGISTER:name:rtype``) when, and only when, this Python's own tracker code
  is seen to write that protocol (:func:`tracker_writes_lines`); otherwise the public
  ``resource_tracker.register`` / ``unregister``.
- :func:`unpickling_process_arguments`: ``multiprocessing.process.current_process()._inheriting``.
- :func:`namespace_annotations`: a class namespace's annotations, lazily evaluated on 3.14+.
"""

from __future__ import annotations

import os
import sys
from multiprocessing import process, resource_tracker

TYPE_CHECKING = False  # typing is for type checkers only: importing it costs a spawned child ~5 ms
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "namespace_annotations",
    "sha256",
    "track",
    "tracker_writes_lines",
    "unpickling_process_arguments",
    "untrack",
]

_RTYPE = "shared_memory"

#: Whether this process may write to the resource tracker's pipe itself: ``None`` until
#: :func:`tracker_writes_lines` has looked (once per process; a forked child inherits the answer,
#: with the same standard library). Tests set it to ``False`` to force the public API.
_line_protocol: bool | None = None

#: The name the protocol check registers with its scratch tracker (never with the real one).
_PROBE_NAME = "/shms_protocol-check"


# --------------------------------------------------------------------------- the resource tracker


def track(resource: str) -> None:
    """Ask multiprocessing's resource tracker to remove ``resource`` (a ``/shms_...`` shared-memory
    name) if this process dies without unregistering it.

    Why private: the public ``resource_tracker.register`` probes the tracker with an extra write
    before every message on Python 3.8-3.13 (about 15 us a name, half the cost of creating a small
    block). Writing the line ourselves skips the probe while this process's connection to the
    tracker is known to work. What replaces it: nothing faster is public; Python 3.15 (and 3.14.1,
    3.13.10) changed the message format (gh-98896), and there the check below fails and the public
    API is used, at its own cost.
    """
    _tell("REGISTER", resource)


def untrack(resource: str) -> None:
    """Withdraw :func:`track`'s request (the block's names were removed, or a watcher took over)."""
    _tell("UNREGISTER", resource)


def _tell(command: str, resource: str) -> None:
    if tracker_writes_lines():
        try:
            _write_line(f"{command}:{resource}:{_RTYPE}\n".encode("ascii"))
            return
        except Exception:  # anything unexpected: the tracker's own code decides (a line is all or nothing)
            pass
    if command == "REGISTER":
        resource_tracker.register(resource, _RTYPE)
    else:
        resource_tracker.unregister(resource, _RTYPE)


def _write_line(line: bytes) -> None:
    tracker: Any = resource_tracker._resource_tracker
    fd = tracker._fd
    if fd is None or tracker._pid is None:
        tracker.ensure_running()  # no connection in this process yet: the tracker's own probe
        fd = tracker._fd
    try:
        os.write(fd, line)  # shorter than PIPE_BUF: written whole or not at all
    except OSError:  # the tracker died, or the descriptor is stale: let the tracker's code reconnect
        tracker.ensure_running()
        os.write(tracker._fd, line)


def tracker_writes_lines() -> bool:
    """Whether this Python's resource tracker speaks the line protocol ``CMD:name:rtype\\n`` that
    :func:`track` writes directly (checked by behaviour once per process, never by version).

    CPython changed the format in a bug fix (gh-98896: names containing colons) that reached patch
    releases: 3.14.1 and 3.13.10 wrote JSON lines (``{"cmd":..,"rtype":..,"base64_name":..}``)
    that a line written by us would not match, and a tracker that cannot parse a message just
    prints a traceback: the segment would leak after a ``SIGKILL`` with no error. So the
    tracker's own code formats one message into a pipe this function owns, and the fast path is
    used only if that message is exactly the old line. Anything unexpected means no.
    """
    global _line_protocol
    if _line_protocol is None:
        _line_protocol = _tracker_writes_lines()
    return _line_protocol


def _tracker_writes_lines() -> bool:
    tracker_class: Any = getattr(resource_tracker, "ResourceTracker", None)
    live: Any = getattr(resource_tracker, "_resource_tracker", None)
    if tracker_class is None or not isinstance(live, tracker_class):
        return False
    if not all(hasattr(live, attribute) for attribute in ("_fd", "_pid", "ensure_running")):
        return False
    for public in (resource_tracker.register, resource_tracker.unregister):
        # Someone replaced the public functions (to silence or redirect tracking): honour that.
        if getattr(public, "__self__", None) is not live:
            return False
    read_end, write_end = os.pipe()
    try:
        os.set_blocking(read_end, False)
        os.set_blocking(write_end, False)
        scratch: Any = tracker_class()
        scratch._fd = write_end  # its "connection": our pipe, never the real tracker
        scratch.ensure_running = _connected  # 3.8-3.13: the probe step, already "connected"
        scratch._launch = scratch._teardown_dead_process = _refuse  # 3.14+: never start a process
        try:
            scratch.register(_PROBE_NAME, _RTYPE)
        finally:
            scratch._fd = None  # so that its __del__ or _stop never closes or waits on our pipe
        written = os.read(read_end, 4096)
    except Exception:
        return False
    finally:
        os.close(read_end)
        os.close(write_end)
    probe = b"PROBE:0:noop\n"
    while written.startswith(probe):  # a version that probes before each message: the same protocol
        written = written[len(probe) :]
    return written == f"REGISTER:{_PROBE_NAME}:{_RTYPE}\n".encode("ascii")


def _connected() -> None:
    """The scratch tracker's ``ensure_running``: its pipe is already open."""


def _refuse(*_: object) -> None:
    raise RuntimeError("the protocol check must not start or tear down a resource tracker")


# --------------------------------------------------------------------------- process start-up


def unpickling_process_arguments() -> bool:
    """Whether this process is unpickling its own ``Process`` object and arguments, as a child
    started with spawn or forkserver does before the target runs.

    Why private: multiprocessing's bootstrap then clears its finalizer registry, which would drop
    the finalizer of a block unpickled among the arguments; such a block registers again after the
    bootstrap (``util.register_after_fork``). Only ``current_process()._inheriting`` tells that
    moment apart. What replaces it: nothing public as of Python 3.14. If the attribute goes away
    this answers False: the block then keeps its users-table slot until the process exits, and a
    slot of a dead process counts as free, so the block is still removed, by the next process to
    stop, by the watcher or by ``gc``, though not at that process's exit.
    """
    return bool(getattr(process.current_process(), "_inheriting", False))


# --------------------------------------------------------------------------- class annotations


def namespace_annotations(namespace: dict[str, Any]) -> dict[str, Any]:
    """The annotations of a class being created, from its namespace (in a metaclass ``__new__``).

    Why private: before 3.14 they are the namespace's ``__annotations__`` dict (strings under
    ``from __future__ import annotations``). From 3.14 (PEP 649/749) the namespace holds an annotate
    function instead, under a key that is an implementation detail; :mod:`annotationlib` finds it
    (``get_annotate_from_class_namespace``) and calls it with ``Format.FORWARDREF``: names already
    defined evaluate to their values, names not defined yet (a forward reference) to their source
    text, as a string, which the caller resolves or reports like a stringified annotation.
    What replaces it: this *is* the 3.14 public way; only the ``__annotations__`` branch is old.
    """
    if sys.version_info >= (3, 14):
        import annotationlib

        annotate = annotationlib.get_annotate_from_class_namespace(namespace)
        if annotate is not None:
            values = annotationlib.call_annotate_function(annotate, annotationlib.Format.FORWARDREF)
            return {
                name: value.__forward_arg__ if isinstance(value, annotationlib.ForwardRef) else value
                for name, value in values.items()
            }
    annotations = namespace.get("__annotations__")
    return dict(annotations) if isinstance(annotations, dict) else {}


def sha256(data: bytes) -> bytes:
    """The SHA-256 digest of ``data``.

    Why: every process that attaches a struct computes its schema's fingerprint, and ``import
    hashlib`` loads OpenSSL (a few milliseconds of a spawned child's start). CPython's own builtin
    module computes the same digest: ``_sha2`` from 3.12, ``_sha256`` before. Replaced by: nothing
    public; hashlib is the fallback whenever neither module is there.
    """
    import importlib

    try:
        builtin: Any = importlib.import_module("_sha2" if sys.version_info >= (3, 12) else "_sha256")
    except ImportError:
        import hashlib

        return hashlib.sha256(data).digest()
    digest: bytes = builtin.sha256(data).digest()
    return digest
