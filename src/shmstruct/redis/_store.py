"""The connection to one Redis server: creating, attaching and deleting what it holds, and the
one place where the server's replies and failures become shmstruct's errors."""

from __future__ import annotations

import errno
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn, ParamSpec, TypeVar, cast

import redis
import redis.exceptions

from .._errors import (
    FieldValueError,
    LeaseExpiredError,
    SchemaError,
    SchemaMismatchError,
    SegmentError,
    SegmentExistsError,
    SharedMemoryFullError,
    SharedMemoryGoneError,
    StoreUnavailableError,
    short_repr,
)
from .._header import description_text, schema_mismatch
from .._schema import Schema, schema_of
from . import _scripts
from ._target import Keys, Target

if TYPE_CHECKING:
    from ._lease import RemoteLock
    from ._log import RemoteLog
    from ._table import RemoteTable

__all__ = ["MAX_BYTES", "MAX_CAPACITY", "Listener", "Store", "check_size"]

S = TypeVar("S")
P = ParamSpec("P")

#: The largest capacity of a log, and the most rows of a table.
MAX_CAPACITY = 2**40
#: The most bytes of a struct's or log row's record, and of a whole table: Redis holds a string
#: (a table's column, an array field) of at most 512 MB, and a table travels whole in one command
#: (creation) or reply (a snapshot). Larger data belongs in shared memory.
MAX_BYTES = 512 * 2**20
_KIND = b"struct"
_KINDS = {_KIND: "struct", b"log": "log", b"table": "table"}  # what a key can hold, by its _kind


class Store:
    """A Redis server holding shmstruct structs by key (see ``shmstruct.redis.connect``).

    Args:
        client: A ``redis.Redis`` client (bytes replies: ``decode_responses`` off).
        lease: Seconds a lock holder keeps the lock without renewing it (see ``RemoteLock``).
    """

    def __init__(self, client: redis.Redis, *, lease: float = 10.0) -> None:
        if not (isinstance(lease, (int, float)) and 0.01 <= lease <= 86400):
            raise ValueError(f"lease is seconds between 0.01 and 86400, got {short_repr(lease)}")
        self._shared: Any = client  # redis-py types its replies loosely; ours are bytes
        self.lease = float(lease)
        self._scripts: dict[str, str] = {}  # script source -> its SHA1
        self._locks: dict[str, Any] = {}
        self._locks_guard = threading.Lock()
        self._own = threading.local()

    @property
    def client(self) -> Any:
        """This thread's client: one connection of its own, kept. (Taking a connection from the
        pool and giving it back costs about half a round trip per command; a connection is not
        shared between threads, nor with a forked child, which gets new ones.)"""
        own: _Own | None = self._own.__dict__.get("own")
        if own is None or own.pid != os.getpid():
            try:  # it connects at once
                client = redis.Redis(connection_pool=self._shared.connection_pool, single_connection_client=True)
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
                raise StoreUnavailableError(f"the Redis server of {self!r} cannot be reached: {exc}") from None
            own = self._own.own = _Own(client)
        return own.client

    @property
    def block_slice(self) -> float | None:
        """The longest a blocking command may block (seconds), so that the connection's read
        timeout (``socket_timeout``; redis-py 8 sets 5 s) never ends a wait that is going well;
        ``None``: no read timeout. A longer wait is several blocking commands in a row."""
        connection = getattr(self.client, "connection", None)  # this thread's, as made (with any default)
        timeout = getattr(connection, "socket_timeout", None)
        return None if timeout is None else max(0.01, timeout / 4)

    def __repr__(self) -> str:
        kwargs = self._shared.connection_pool.connection_kwargs
        return f"<shmstruct.redis.Store {kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}>"

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close this store's connections now (rather than when it is garbage collected). A
        later operation through it, or one of its proxies, opens a connection again."""
        self._own = threading.local()  # this thread's; other threads' go when they end
        self._shared.connection_pool.disconnect()

    # ------------------------------------------------------------------ structs

    def create(self, schema: Callable[P, S], key: str, /, *args: P.args, **values: P.kwargs) -> S:
        """Create the struct at ``key`` with the defaults updated with ``values``, and return its proxy.

        Every value is checked before anything is sent.

        Raises:
            FieldTypeError: An unknown field, a missing required one, or a value of the wrong type.
            FieldValueError: A value out of range or against a constraint.
            SegmentExistsError: Something is already stored at ``key``.
            StoreUnavailableError: The server cannot be reached.
        """
        from ._struct import image_entries, proxy_class

        if args:
            raise TypeError("the fields of a new struct are given by keyword: store.create(Schema, key, field=value)")
        compiled = schema_of(schema)
        keys = Keys(key)
        proxy_type = proxy_class(compiled)  # refuses a schema the store cannot hold, before sending
        entries = image_entries(compiled, compiled.image(values))
        target = Target(self, keys, compiled)
        command: list[Any] = [_KIND, target.fingerprint, description_text(compiled.description)]
        for name, value in entries.items():
            command += (name, value)
        if not self.run(_scripts.CREATE, keys, (keys.data, keys.meta), command):
            raise SegmentExistsError(
                f"Redis key {key!r} already holds something; use store.attach({compiled.name}, {key!r}) to use it"
            )
        return cast(S, proxy_type(target, ""))

    def attach(self, schema: type[S], key: str) -> S:
        """A proxy to the struct of ``schema`` at ``key``.

        Raises:
            SharedMemoryGoneError: Nothing is stored at ``key``.
            SchemaMismatchError: ``key`` holds another schema, or another version of this one.
            SegmentError: ``key`` holds something that is not a shmstruct struct.
            StoreUnavailableError: The server cannot be reached.
        """
        from ._struct import proxy_class

        proxy_type = proxy_class(schema_of(schema))  # refuses a schema the store cannot hold
        target, _ = self._attached(schema, key, "struct")
        return cast(S, proxy_type(target, ""))

    def create_log(self, schema: type[S], key: str, /, capacity: int, *, ring: bool = False) -> RemoteLog[S]:
        """Create an empty log of ``schema`` records at ``key`` with room for ``capacity`` rows;
        with ``ring=True`` each append past ``capacity`` drops the oldest row.

        Raises:
            SegmentExistsError: Something is already stored at ``key``.
            StoreUnavailableError: The server cannot be reached.
        """
        from ._log import RemoteLog

        compiled = schema_of(schema)
        keys = Keys(key, "log")
        _check_count(capacity, "capacity")
        check_size(compiled, "a log row")
        _check_total(compiled, capacity, "a log of capacity")
        target = Target(self, keys, compiled, _log_settings(capacity, ring))
        args = [
            target.fingerprint,
            description_text(compiled.description),
            str(capacity),
            "1" if ring else "0",
        ]
        if not self.run(_scripts.CREATE_LOG, keys, (keys.data, keys.meta), args):
            raise SegmentExistsError(
                f"Redis key {key!r} already holds something; use store.attach_log({compiled.name}, {key!r}) to use it"
            )
        return RemoteLog(target, capacity, ring)

    def attach_log(self, schema: type[S], key: str) -> RemoteLog[S]:
        """The log of ``schema`` records at ``key``.

        Raises:
            SharedMemoryGoneError: Nothing is stored at ``key``.
            SchemaMismatchError: The log holds another schema, or another version of this one.
            SegmentError: ``key`` holds something that is not a shmstruct log.
            StoreUnavailableError: The server cannot be reached.
        """
        from ._log import RemoteLog

        target, found = self._attached(schema, key, "log")
        return RemoteLog(target, found["capacity"], found["ring"])

    def create_table(self, schema: type[S], key: str, /, rows: int) -> RemoteTable[S]:
        """Create a table of ``rows`` records of ``schema`` at ``key``, each holding the defaults.

        Raises:
            SegmentExistsError: Something is already stored at ``key``.
            StoreUnavailableError: The server cannot be reached.
        """
        from ._table import RemoteTable, column_images, column_key

        compiled = schema_of(schema)
        keys = Keys(key, "table")
        _check_count(rows, "rows")
        check_size(compiled, "a table row")
        _check_total(compiled, rows, "a table of")
        columns = [column_key(keys, f.name) for f in compiled.fields]
        target = Target(self, keys, compiled, _table_settings(rows))
        args: list[Any] = [
            target.fingerprint,
            description_text(compiled.description),
            str(rows),
            "\n".join(columns),
        ]
        args += column_images(compiled, rows)
        if not self.run(_scripts.CREATE_TABLE, keys, (keys.meta, keys.data, *columns), args):
            raise SegmentExistsError(
                f"Redis key {key!r} already holds something; use store.attach_table({compiled.name}, {key!r})"
            )
        return RemoteTable(target, rows)

    def attach_table(self, schema: type[S], key: str) -> RemoteTable[S]:
        """The table of ``schema`` records at ``key``.

        Raises:
            SharedMemoryGoneError: Nothing is stored at ``key``.
            SchemaMismatchError: The table holds another schema, or another version of this one.
            SegmentError: ``key`` holds something that is not a shmstruct table.
            StoreUnavailableError: The server cannot be reached.
        """
        from ._table import RemoteTable

        target, found = self._attached(schema, key, "table")
        return RemoteTable(target, found["rows"])

    def _attached(self, schema: type[Any], key: str, wanted: str) -> tuple[Target, dict[str, Any]]:
        """The target of the ``wanted`` (struct, log, table) of ``schema`` at ``key``, after
        checking what the key holds, and its settings as its metadata holds them (a table's
        ``rows``; a log's ``capacity`` and ``ring``).

        Raises:
            SharedMemoryGoneError: Nothing is stored at ``key``.
            SchemaMismatchError: It holds another schema, or another version of this one.
            SegmentError: It holds something else, or damaged metadata.
        """
        keys = Keys(key, wanted)
        metadata = self._metadata(keys, wanted)
        found: dict[str, Any] = {}
        settings: tuple[tuple[str, str], ...] = ()
        if wanted == "table":
            found["rows"] = _count(metadata["rows"], key)
            settings = _table_settings(found["rows"])
        elif wanted == "log":
            if metadata["ring"] not in (b"0", b"1"):
                raise SegmentError(f"Redis key {key!r} holds a log whose metadata is damaged (its ring setting)")
            found["capacity"], found["ring"] = _count(metadata["capacity"], key), metadata["ring"] == b"1"
            settings = _log_settings(found["capacity"], found["ring"])
        target = Target(self, keys, schema_of(schema), settings)
        description = metadata["_schema"]
        if metadata["_fingerprint"] is None or description is None:
            raise SegmentError(f"Redis key {key!r} does not hold a shmstruct {wanted}: its metadata is damaged")
        if metadata["_fingerprint"] != target.fingerprint:
            raise self._mismatch(target.keys, description, schema)
        return target, found

    def _metadata(self, keys: Keys, wanted: str) -> dict[str, bytes | None]:
        """The metadata of what ``keys`` hold (a struct keeps it in its hash, a log or a table in
        its metadata hash): ``_kind``, ``_fingerprint``, ``_schema``, ``capacity``, ``ring``, ``rows``.

        Raises:
            SharedMemoryGoneError: Nothing is stored there.
            SegmentError: Something that is not ``wanted`` (a struct or a log) is.
        """
        fields = ["_kind", "_fingerprint", "_schema", "capacity", "ring", "rows"]
        with self.errors(keys):
            data_type = self.client.type(keys.data)
            holder = keys.data if data_type == b"hash" else keys.meta
            found: list[bytes | None] = self.client.hmget(holder, fields)
        if found[0] is None and data_type == b"none":
            raise SharedMemoryGoneError(f"no {wanted} is stored at Redis key {keys.key!r} (never created, or deleted)")
        held = _KINDS.get(found[0] or b"")
        if held is None:
            raise SegmentError(f"Redis key {keys.key!r} holds a Redis {data_type.decode()}, not a shmstruct {wanted}")
        if held != wanted:
            other = {"log": "attach_log", "table": "attach_table"}.get(held, "attach")
            raise SegmentError(f"Redis key {keys.key!r} holds a shmstruct {held}, not a {wanted}: use store.{other}()")
        return dict(zip(fields, found, strict=True))

    def exists(self, key: str) -> bool:
        """Whether anything is stored at ``key``."""
        keys = Keys(key)
        with self.errors(keys):
            return bool(self.client.exists(keys.data, keys.meta))

    def delete(self, key: str) -> None:
        """Delete the struct, log or table at ``key`` and its lock (proxies of it then raise
        ``SharedMemoryGoneError``). Deleting a key that holds nothing does nothing."""
        keys = Keys(key)
        prefix = f"{keys.data}:col:"
        with self.errors_without_gone():
            is_hash = self.client.type(keys.meta) == b"hash"
            kind, columns = self.client.hmget(keys.meta, ["_kind", "_columns"]) if is_hash else (None, None)
            extra = columns.decode("utf-8", "replace").split("\n") if columns else []
            if kind == b"table" and (not extra or not all(name.startswith(prefix) for name in extra)):
                # Its list of columns was damaged: find them by name (a scan of the whole keyspace).
                pattern = "".join("\\" + c if c in "*?[]\\" else c for c in prefix) + "*"
                extra = [name.decode("utf-8", "surrogateescape") for name in self.client.scan_iter(pattern, 1000)]
            extra = [name for name in extra if name.startswith(prefix)]
            self.client.delete(keys.data, keys.meta, keys.lock, keys.fence, keys.wake, *extra)

    def lock_of(self, keys: Keys) -> RemoteLock:
        """The one lock object of ``keys`` in this process (every proxy of the struct shares it)."""
        from ._lease import RemoteLock

        with self._locks_guard:
            lock = self._locks.get(keys.data)
            if lock is None:
                lock = self._locks[keys.data] = RemoteLock(self, keys)
            return lock

    def token_of(self, keys: Keys) -> bytes:
        """The fencing token this thread holds on ``keys``'s lock, or ``b""``."""
        lock = self._locks.get(keys.data)
        return b"" if lock is None else lock.held_token()

    # ------------------------------------------------------------------ the server

    @contextmanager
    def listening(self, keys: Keys, channel: str) -> Iterator[Listener]:
        """A subscription to ``channel``, confirmed by the server before this returns (so that a
        message published after it, on any connection, reaches it), closed at the end."""
        with self.errors(keys):
            pubsub = self.client.pubsub()
        try:
            piece = self.block_slice
            deadline = None if piece is None else time.monotonic() + 4 * piece  # the read timeout
            with self.errors(keys):
                pubsub.subscribe(channel)
                while True:  # the confirmation
                    reply = pubsub.get_message(timeout=piece or 5.0)
                    if reply is not None and reply["type"] == "subscribe":
                        break
                    if deadline is not None and time.monotonic() > deadline:
                        raise StoreUnavailableError(
                            f"the Redis server of {self!r} did not confirm a subscription within the "
                            "connection's read timeout (socket_timeout)"
                        )
            yield Listener(self, keys, pubsub)
        finally:
            pubsub.close()

    def run(self, source: str, keys: Keys, key_names: tuple[str, ...], args: list[Any]) -> Any:
        """Run one of :mod:`._scripts` by its SHA1 (the server keeps it after the first call) and
        map its errors."""
        sha = self._scripts.get(source)
        if sha is None:
            sha = self._scripts[source] = hashlib.sha1(source.encode()).hexdigest()
        try:
            try:
                return self.client.evalsha(sha, len(key_names), *key_names, *args)
            except redis.exceptions.NoScriptError:  # a new server, or one restarted or flushed
                self.client.script_load(source)
                return self.client.evalsha(sha, len(key_names), *key_names, *args)
        except redis.exceptions.RedisError as exc:
            self._raise(exc, keys)

    @contextmanager
    def errors(self, keys: Keys) -> Iterator[None]:
        """Turn the client's failures into shmstruct's errors, naming ``keys``'s struct."""
        try:
            yield
        except redis.exceptions.RedisError as exc:
            self._raise(exc, keys)

    def _raise(self, exc: redis.exceptions.RedisError, keys: Keys) -> NoReturn:
        if isinstance(exc, redis.exceptions.TimeoutError):
            raise StoreUnavailableError(
                f"the Redis server of {self!r} did not answer within the connection's read timeout "
                f"(socket_timeout): {exc}. A slow network, or a large reply (a snapshot of a big table or log), "
                "may need a longer one: connect(url, socket_timeout=...)"
            ) from None
        if isinstance(exc, redis.exceptions.ConnectionError):
            raise StoreUnavailableError(f"the Redis server of {self!r} cannot be reached: {exc}") from None
        if isinstance(exc, redis.exceptions.OutOfMemoryError):  # a script is refused before its first write
            raise SharedMemoryFullError(
                errno.ENOSPC,
                f"the Redis server of {self!r} is out of memory (its maxmemory): the operation on key "
                f"{keys.key!r} was refused and changed nothing; free memory there, or raise maxmemory",
            ) from None
        message = str(exc)
        if message.startswith(_scripts.ERR_GONE):  # deleted, or now something else
            self.gone(keys)
        if message.startswith("WRONGTYPE"):  # replaced by something else, or one of its keys damaged
            self.gone(keys, damaged=True)
        if message.startswith(_scripts.ERR_LEASE):
            raise LeaseExpiredError(
                f"the lease on the lock of Redis key {keys.key!r} passed while this thread held it (lease "
                f"{self.lease:g} s): another process may hold the lock now, so the write was refused and "
                "changed nothing"
            ) from None
        if message.startswith(_scripts.ERR_DAMAGED):
            detail = message.removeprefix(_scripts.ERR_DAMAGED).strip()
            raise SegmentError(
                f"the {keys.kind} at Redis key {keys.key!r} was damaged by another program: {detail}; nothing changed"
            ) from None
        if message.startswith(_scripts.ERR_RANGE):
            raise FieldValueError(message) from None  # the caller words it (see _struct)
        raise SegmentError(f"Redis refused an operation on key {keys.key!r}: {message}") from None

    def gone(self, keys: Keys, damaged: bool = False) -> NoReturn:
        """Raise the error for a struct, log or table whose key was deleted, or now holds
        something else; with ``damaged`` (a key of it held another Redis type), a ``SegmentError``
        when it still holds what ``keys`` expect."""
        with self.errors_without_gone():
            data_type = self.client.type(keys.data)
            holder = keys.data if data_type == b"hash" else keys.meta
            meta_type = self.client.type(holder)
            kind, description = (
                self.client.hmget(holder, ["_kind", "_schema"]) if meta_type == b"hash" else (None, None)
            )
        if kind is None and data_type == b"none" and meta_type == b"none":
            raise SharedMemoryGoneError(f"the {keys.kind} at Redis key {keys.key!r} was deleted")
        held = _KINDS.get(kind or b"")
        if damaged and held == keys.kind:
            raise SegmentError(
                f"the {keys.kind} at Redis key {keys.key!r} was damaged by another program: one of its keys holds "
                "another Redis type"
            )
        shown = {"struct": "a struct", "log": "a log", "table": "a table"}.get(held or "")
        raise SchemaMismatchError(
            f"Redis key {keys.key!r} was replaced: it now holds "
            + (f"{shown} of {_schema_name(description)}" if shown else "something that is not shmstruct's")
            + f", not the {keys.kind} this proxy was attached to"
        )

    @contextmanager
    def errors_without_gone(self) -> Iterator[None]:
        try:
            yield
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise StoreUnavailableError(f"the Redis server of {self!r} cannot be reached: {exc}") from None
        except redis.exceptions.RedisError as exc:  # a key of ours holds a foreign type
            raise SegmentError(f"Redis refused an operation on a key of shmstruct's: {exc}") from None

    def _mismatch(self, keys: Keys, description: bytes, schema: type[Any]) -> SchemaMismatchError:
        import json

        try:
            theirs = json.loads(description)
        except ValueError:
            theirs = None
        damaged = SchemaMismatchError(
            f"Redis key {keys.key!r} holds a {keys.kind} of another schema, whose description is damaged"
        )
        if not isinstance(theirs, dict):
            return damaged
        try:
            return schema_mismatch(theirs, schema, f"Redis key {keys.key!r}")
        except (TypeError, KeyError, ValueError, AttributeError, IndexError):  # a description not of our making
            return damaged


def _schema_name(description: bytes | None) -> str:
    import json

    try:
        name = json.loads(description or b"").get("schema")
    except (ValueError, AttributeError):
        name = None
    return f"schema {name!r}" if isinstance(name, str) else "a damaged description"


def check_size(schema: Schema, what: str) -> None:
    """Refuse a schema whose record is larger than Redis takes (``MAX_BYTES``).

    Raises:
        SchemaError: It is larger.
    """
    if schema.size > MAX_BYTES:
        raise SchemaError(
            f"{schema.name} is {schema.size:,} bytes; {what} in Redis holds at most {MAX_BYTES:,} bytes (Redis "
            "strings hold at most 512 MB, and a snapshot travels in one reply): keep it in shared memory"
        )


def _table_settings(rows: int) -> tuple[tuple[str, str], ...]:
    """What a table's scripts check it still has (see ``Identity``)."""
    return (("rows", str(rows)),)


def _log_settings(capacity: int, ring: bool) -> tuple[tuple[str, str], ...]:
    """What a log's scripts check it still has (see ``Identity``)."""
    return (("capacity", str(capacity)), ("ring", "1" if ring else "0"))


def _check_total(schema: Schema, count: int, what: str) -> None:
    """Refuse a table or log whose rows would take more than ``MAX_BYTES``."""
    if count * schema.size > MAX_BYTES:
        raise ValueError(
            f"{what} {count:,} {schema.name} rows is {count * schema.size:,} bytes; a table or log in Redis holds "
            f"at most {MAX_BYTES:,} bytes ({MAX_BYTES // schema.size:,} of these rows): Redis strings hold at most "
            "512 MB and a snapshot travels in one reply. Keep it in shared memory, or split it over several keys"
        )


def _check_count(value: Any, what: str) -> None:
    if type(value) is not int or not 1 <= value <= MAX_CAPACITY:
        raise ValueError(f"{what} is a number of rows from 1 to {MAX_CAPACITY:,}, got {short_repr(value)}")


def _count(stored: bytes | None, key: str) -> int:
    """A log's capacity or a table's row count as its metadata holds it.

    Raises:
        SegmentError: It is not a count.
    """
    text = stored or b""
    count = int(text) if text.isdigit() and not text.startswith(b"0") and len(text) < 16 else 0
    if not 1 <= count <= MAX_CAPACITY:
        raise SegmentError(f"Redis key {key!r} holds damaged metadata: {short_repr(stored)} is not a number of rows")
    return count


class Listener:
    """A confirmed subscription (see ``Store.listening``)."""

    def __init__(self, store: Store, keys: Keys, pubsub: Any) -> None:
        self._store = store
        self._keys = keys
        self._pubsub = pubsub

    def heard(self, timeout: float | None) -> bool:
        """Sleep on the server until a message arrives (``True``) or at most ``timeout`` seconds
        (``None``: a few seconds at most; the caller loops), never past the connection's read timeout."""
        cap = min(self._store.block_slice or 5.0, 5.0)
        with self._store.errors(self._keys):
            reply = self._pubsub.get_message(timeout=cap if timeout is None else max(0.0, min(timeout, cap)))
        return reply is not None and reply["type"] == "message"


class _Own:
    """One thread's client; its connection goes back to the pool when the thread ends (the
    thread's ``threading.local`` data, which holds this, is dropped then)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.pid = os.getpid()

    def __del__(self) -> None:
        if self.pid == os.getpid():  # a forked child must not touch its parent's connection
            try:
                self.client.close()
            except Exception:
                pass
