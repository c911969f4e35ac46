"""Segment names: generated ones are unguessable, given ones are checked.

A block called ``name`` is the POSIX shared-memory object ``/shms_<name>``, the file
``/dev/shm/shms_<name>`` on Linux (its lock lives inside it). The prefix is how ``python -m
shmstruct list`` and the test suite's leak check recognise shmstruct's segments.

The environment variable ``SHMSTRUCT_NAME_PREFIX`` (at most ``MAX_ENV_PREFIX_LENGTH`` of the
characters a name may hold) is put in front of every *generated* name, so that ``list`` shows
which program, user or test run made a segment. Given names are used exactly as given.
"""

from __future__ import annotations

import itertools
import os

from ._errors import SegmentNameError

__all__ = [
    "ENV_PREFIX",
    "MAX_ENV_PREFIX_LENGTH",
    "MAX_NAME_LENGTH",
    "PREFIX",
    "check_name",
    "env_prefix",
    "new_name",
    "segment_path",
]

PREFIX = "shms_"

#: Longest name a user may give (Linux allows 255 characters for the file in /dev/shm).
MAX_NAME_LENGTH = 200

#: The environment variable whose value starts every generated name.
ENV_PREFIX = "SHMSTRUCT_NAME_PREFIX"

#: Longest value of ``SHMSTRUCT_NAME_PREFIX``: a generated name stays far below ``MAX_NAME_LENGTH``.
MAX_ENV_PREFIX_LENGTH = 40

#: The characters a name may hold (a set, not a regular expression: compiling one costs every
#: importing process, a spawned child too, more than the check ever will).
_ALLOWED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


def _allowed(text: str) -> bool:
    """Whether ``text`` is not empty and holds only :data:`_ALLOWED` characters."""
    return bool(text) and _ALLOWED.issuperset(text)


class _Generator:
    """A random per-process prefix (48 bits from ``os.urandom``, which ``secrets`` uses too, without
    importing hashlib) and a counter: one urandom call per process, not per block. A forked child
    draws its own prefix."""

    prefix = ""
    counter = itertools.count()

    @classmethod
    def reseed(cls) -> None:
        cls.prefix = os.urandom(6).hex()
        cls.counter = itertools.count()


_Generator.reseed()
os.register_at_fork(after_in_child=_Generator.reseed)


def env_prefix() -> str:
    """The value of ``SHMSTRUCT_NAME_PREFIX`` ("" when unset), checked.

    Read at every call, not once at import: a program may set it after importing shmstruct, and
    children (forked, spawned or started with ``subprocess``) inherit it.

    Raises:
        SegmentNameError: The value holds a character a name may not hold, or is too long.
    """
    value = os.environ.get(ENV_PREFIX, "")
    if value and (len(value) > MAX_ENV_PREFIX_LENGTH or not _allowed(value)):
        raise SegmentNameError(
            f"{ENV_PREFIX}={value!r} is not a valid name prefix: use at most {MAX_ENV_PREFIX_LENGTH} "
            "letters, digits, '_', '.' and '-' (no '/' or spaces), or leave it unset"
        )
    return value


def new_name() -> str:
    """A fresh unguessable name: ``SHMSTRUCT_NAME_PREFIX``, then 20 characters at most for the first
    2**32 blocks of a process.

    Raises:
        SegmentNameError: ``SHMSTRUCT_NAME_PREFIX`` is not a valid prefix.
    """
    return f"{env_prefix()}{_Generator.prefix}{next(_Generator.counter):x}"


def check_name(name: object) -> str:
    """Return ``name`` if a user may give it to a segment.

    Raises:
        SegmentNameError: Not a string of 1 to ``MAX_NAME_LENGTH`` letters, digits, ``_``, ``.``
            or ``-`` (in particular, no ``/``).
    """
    if not isinstance(name, str):
        raise SegmentNameError(f"a segment name is a str, got {type(name).__name__} {name!r}")
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        raise SegmentNameError(f"segment name {name!r} has {len(name)} characters; use 1 to {MAX_NAME_LENGTH}")
    if not _allowed(name):
        raise SegmentNameError(
            f"segment name {name!r} may only hold letters, digits, '_', '.' and '-' (no '/' or spaces)"
        )
    return name


def segment_path(name: str) -> str:
    """The POSIX shared-memory object name of block ``name``."""
    return f"/{PREFIX}{name}"
