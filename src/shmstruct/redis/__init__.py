"""The same schemas, stored in Redis, for processes on many hosts (``pip install 'shmstruct[redis]'``).

::

    store = shmstruct.redis.connect("redis://host:6379/0")
    s = store.create(State, "jobs/state", steps=1)  # typed as State, checked as State
    s = store.attach(State, "jobs/state")  # in another process, on any host
    s.steps = 2
    s.hits.add(1)  # Atomic fields: one server-side operation
    with s.lock:  # a lease with a fencing token
        shmstruct.update(s, steps=3, label="ok")
    shmstruct.snapshot(s)  # one consistent read

A struct is one Redis hash (the key ``shmstruct:{key}``): one entry per field (a nested struct's
as ``outer.inner``), integers as Redis integers, floats in their shortest exact spelling, text as
UTF-8, arrays as the bytes of their dtype, plus the schema's description and fingerprint, which
``attach`` and every write check.
"""

from __future__ import annotations

from typing import Any

from .._errors import LeaseExpiredError, StoreUnavailableError
from ._lease import RemoteLock
from ._log import RemoteLog
from ._row import RemoteRow
from ._store import Store
from ._struct import RemoteAtomic, RemoteStruct
from ._table import RemoteTable
from ._target import MAX_KEY_LENGTH

__all__ = [
    "DEFAULT_URL",
    "MAX_KEY_LENGTH",
    "URL_VARIABLE",
    "LeaseExpiredError",
    "RemoteAtomic",
    "RemoteLock",
    "RemoteLog",
    "RemoteRow",
    "RemoteStruct",
    "RemoteTable",
    "Store",
    "StoreUnavailableError",
    "connect",
]


#: The environment variable that gives ``connect`` its default URL.
URL_VARIABLE = "SHMSTRUCT_REDIS_URL"
#: The URL ``connect`` uses when neither an argument nor the variable gives one.
DEFAULT_URL = "redis://localhost:6379/0"


def connect(url: str | None = None, *, lease: float = 10.0, **options: Any) -> Store:
    """Connect to a Redis server (or Valkey, or any server that speaks its protocol).

    Nothing is sent until the first operation, so an unreachable server is reported then, as
    ``StoreUnavailableError``.

    Args:
        url: ``redis://[user:password@]host:port/db``, ``rediss://`` for TLS, ``unix:///path``;
            if None, the ``SHMSTRUCT_REDIS_URL`` environment variable, else
            ``redis://localhost:6379/0``.
        lease: Seconds a lock holder keeps the lock (see ``RemoteLock``).
        **options: Passed to ``redis.Redis.from_url`` (``socket_timeout``, ``ssl_ca_certs``...).
    """
    import os

    import redis

    if options.get("decode_responses"):
        raise ValueError("decode_responses must stay off: the store reads bytes (array fields are raw bytes)")
    chosen = url if url is not None else os.environ.get(URL_VARIABLE) or DEFAULT_URL
    return Store(redis.Redis.from_url(chosen, **options), lease=lease)
