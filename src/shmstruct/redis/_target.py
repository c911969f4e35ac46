"""What the proxies of one struct, log or table in Redis are bound to: the names of its keys
(:class:`Keys`), the store, schema and fingerprint they share (:class:`Target`), and the base of
logs and tables (:class:`Records`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .._errors import short_repr
from .._header import template_of
from . import _scripts

if TYPE_CHECKING:
    from .._schema import Schema
    from ._lease import RemoteLock
    from ._store import Store

__all__ = ["MAX_KEY_LENGTH", "Keys", "Records", "Target"]

S = TypeVar("S")

#: The longest key ``create`` and ``attach`` take (characters).
MAX_KEY_LENGTH = 200


class Keys:
    """The Redis keys of the struct, log or table named ``key``: its hash (a log's stream), its
    lock, the lock's fencing counter and wake-up list, and a log's or table's metadata (a table's
    columns have keys of their own, named after it). They share one hash tag
    (``{key}``), so that Redis Cluster keeps them in one slot and a script may use them together."""

    __slots__ = ("data", "fence", "key", "kind", "lock", "meta", "wake")

    def __init__(self, key: str, kind: str = "struct") -> None:
        if not isinstance(key, str):
            raise TypeError(f"a key is a str, got {short_repr(key)}")
        if not 0 < len(key) <= MAX_KEY_LENGTH or "{" in key or "}" in key or not key.isprintable():
            raise ValueError(
                f"key {short_repr(key)} is not allowed: 1 to {MAX_KEY_LENGTH} printable characters, without {{ or }}"
            )
        self.key = key
        self.kind = kind  # what a proxy of these keys expects them to hold: struct, log or table
        self.data = f"shmstruct:{{{key}}}"
        self.lock = f"{self.data}:lock"
        self.fence = f"{self.data}:fence"
        self.wake = f"{self.data}:wake"
        self.meta = f"{self.data}:meta"  # a log's or table's (a struct keeps its own in its hash)


class Target:
    """What every proxy of one attached struct, log or table shares: the store, its keys, the
    schema, and the identity (kind, fingerprint, settings) that every script checks."""

    __slots__ = ("_scripts", "fingerprint", "guarded", "identity", "keys", "schema", "store")

    def __init__(self, store: Store, keys: Keys, schema: Schema, settings: tuple[tuple[str, str], ...] = ()) -> None:
        self.store = store
        self.keys = keys
        self.schema = schema
        self.fingerprint: bytes = template_of(schema.cls).fingerprint.hex().encode()
        self.identity = _scripts.Identity(self.fingerprint, keys.kind, settings)
        self.guarded = (keys.data, keys.lock)  # the keys of a struct's guarded scripts
        self._scripts: dict[tuple[Any, ...], str] = {}

    def script(self, make: Any, *params: Any) -> str:
        """The source of ``make(identity, *params)`` (one of the script makers), made once."""
        which = (make, *params)
        found = self._scripts.get(which)
        if found is None:
            found = self._scripts[which] = make(self.identity, *params)
        return found

    def write(self, entries: dict[str, bytes]) -> None:
        """Write hash entries, all or none; under the lock when this thread holds it (fenced)."""
        args: list[Any] = [self.store.token_of(self.keys)]
        for key, value in entries.items():
            args += (key, value)
        self.store.run(self.script(_scripts.write), self.keys, self.guarded, args)

    def read(self, fields: list[str]) -> list[bytes | None]:
        """The values of hash ``fields``, after checking in the same round trip that the key
        still holds this struct."""
        with self.store.errors(self.keys):
            found: list[bytes | None] = self.store.client.hmget(self.keys.data, ["_fingerprint", *fields])
        if found[0] != self.fingerprint:
            self.store.gone(self.keys)
        return found[1:]

    def read_all(self) -> dict[str, bytes]:
        """Every hash entry, in one command (one consistent moment), after the same check."""
        with self.store.errors(self.keys):
            raw: dict[bytes, bytes] = self.store.client.hgetall(self.keys.data)
        if raw.get(b"_fingerprint") != self.fingerprint:
            self.store.gone(self.keys)
        return {key.decode("utf-8", "surrogateescape"): value for key, value in raw.items()}


class Records(Generic[S]):
    """What a log and a table of ``S`` records in Redis share: their target, schema and lock."""

    def __init__(self, target: Target) -> None:
        self._target = target

    @property
    def schema(self) -> type[S]:
        """The schema class of the rows."""
        cls: type[S] = self._target.schema.cls
        return cls

    @property
    def lock(self) -> RemoteLock:
        """The lock of the whole table or log: a lease with a fencing token (see ``RemoteLock``);
        writes made while holding it are fenced."""
        return self._target.store.lock_of(self._target.keys)

    def snapshot(self) -> Any:
        """Every row, as numpy records (the subclass reads them)."""
        raise NotImplementedError

    # The module-level functions (shmstruct.snapshot, close, segment_name) call these.

    def __shm_snapshot__(self) -> Any:
        return self.snapshot()

    def __shm_close__(self) -> None:
        """Nothing to release: the connections belong to the store."""

    def __shm_name__(self) -> str:
        return self._target.keys.key

    def __reduce__(self) -> Any:
        raise TypeError(
            f"a Redis table or log is not pickled: pass the key ({self._target.keys.key!r}) and attach in the "
            "other process with its own connection"
        )
