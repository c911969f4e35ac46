"""The proxy of a struct stored in Redis: one class per schema, with one attribute per field that
reads and writes the struct's hash, checked exactly as a shared-memory struct's fields are.

A write is checked by the field's own checks, stored into a private struct of the schema (so the
value is exactly what the C type holds: a float32 rounded, a float16 encoded), and sent as hash
entries, each field's kind saying how (``Field.to_hash``); a read decodes them
(``Field.from_hash``), refusing an entry that is not a value of its field.
"""

from __future__ import annotations

import ctypes
import operator
import threading
import time
import types
from collections.abc import Mapping
from typing import Any

from .._errors import FieldTypeError, FieldValueError, SchemaError, SegmentError, short_repr
from .._kinds import Field
from .._schema import Schema, from_buffer, schema_of
from .._struct import SharedStruct
from . import _scripts
from ._store import check_size
from ._target import Target

__all__ = [
    "FieldAttribute",
    "Proxy",
    "RemoteAtomic",
    "RemoteStruct",
    "checked_entries",
    "image_entries",
    "make_proxy_class",
    "proxy_class",
    "scratch_of",
]

_classes: dict[Schema, type[RemoteStruct]] = {}
_classes_guard = threading.Lock()
_scratch = threading.local()  # one private struct per schema and thread, to check writes in

#: Lua's numbers are doubles: an atomic field's range is checked in the script when they hold it
#: exactly; beyond, Redis's own 64-bit overflow check is the C range.
_EXACT_IN_LUA = 2**53


def image_entries(schema: Schema, image: bytes, prefix: str = "") -> dict[str, bytes]:
    """The hash entries of every field of a struct image (``schema.image(...)``)."""
    buffer = (ctypes.c_char * len(image)).from_buffer_copy(image)
    entries: dict[str, bytes] = {}
    for field in schema.fields:
        field.to_hash(ctypes.addressof(buffer), prefix, entries)
    return entries


def scratch_of(schema: Schema) -> Any:
    """This thread's private struct of ``schema``, to check and store values in before sending."""
    structs: dict[Schema, Any] | None = getattr(_scratch, "structs", None)
    if structs is None:
        structs = _scratch.structs = {}
    scratch = structs.get(schema)
    if scratch is None:
        scratch = structs[schema] = from_buffer(schema.cls, bytearray(max(schema.size, 1)))
    return scratch


def make_proxy_class(schema: Schema, base: type[Any], name: str, fields: dict[str, Any]) -> type[Any]:
    """A proxy class of ``schema`` deriving from ``base``: the attributes of its ``fields``, then
    the methods, properties and class attributes the user declared on the schema's class and its
    bases, so that a proxy answers ``s.total()`` as the struct does (its fields read through the
    proxy). Dunders and fields are left out; the user's ``lock`` wins, as on the struct. The
    user's attributes are set after the class is made, so that a descriptor's ``__set_name__``
    is called once, for the schema only. (A method calling ``super()`` fails: the proxy is not
    an instance of the schema.)

    Raises:
        SchemaError: The schema declares a name the proxy uses itself.
    """
    made = type(name, (base,), {"__shm_schema_of_proxy__": schema, "__module__": __name__, **fields})
    taken = {n for klass in base.__mro__ for n in (*vars(klass), *getattr(klass, "__slots__", ()))} - {"lock"}
    own = set(SharedStruct.__mro__)
    for klass in reversed(schema.cls.__mro__):
        if klass in own:
            continue
        for attribute, value in vars(klass).items():
            if attribute.startswith("__") or attribute in fields or attribute in _SCHEMA_INTERNALS:
                continue
            if isinstance(value, types.MemberDescriptorType):  # a slot of the struct itself
                continue
            if attribute in taken:
                raise SchemaError(
                    f"{schema.name}.{attribute}: the Redis proxy of {schema.name} uses this name itself; rename it"
                )
            # A class method stays bound to the schema: cls is the schema, as on the struct.
            setattr(made, attribute, value.__get__(None, schema.cls) if isinstance(value, classmethod) else value)
    return made


_SCHEMA_INTERNALS = frozenset({"_fields_", "_pack_", "_anonymous_", "_layout_", "_align_"})


def checked_entries(schema: Schema, prefix: str, values: Mapping[str, Any]) -> dict[str, bytes]:
    """The hash entries of ``values`` after every check (nothing is sent if one fails).

    Raises:
        FieldTypeError: An unknown field, or a value of the wrong type.
        FieldValueError: A value out of range or against a constraint.
    """
    writes = schema.prepare(values, partial=True)
    scratch = scratch_of(schema)
    base = ctypes.addressof(scratch)
    entries: dict[str, bytes] = {}
    for name, (store, prepared) in zip(values, writes, strict=True):
        store(scratch, prepared)
        schema.ops[name].field.to_hash(base, prefix, entries)
    return entries


class FieldAttribute:
    """The base of the attributes of a proxy's fields (a struct's, a table row's)."""

    __slots__ = ()

    def __set__(self, obj: Any, value: Any) -> None:
        """Check ``value`` and write it (each kind of proxy says how)."""
        raise NotImplementedError


class Proxy:
    """What the proxies of structs and of table rows share: only fields (and the schema's
    properties) are written, nothing is deleted, and a ``with`` block or ``shmstruct.close``
    releases nothing (the connections belong to the store)."""

    __slots__ = ()
    __shm_schema_of_proxy__: Schema

    def __setattr__(self, name: str, value: Any) -> None:
        attribute = getattr(type(self), name, None)
        if isinstance(attribute, (FieldAttribute, property)):
            attribute.__set__(self, value)
            return
        schema = self.__shm_schema_of_proxy__
        raise FieldTypeError(
            f"{schema.name} has no field {name!r}; its fields are: {', '.join(schema.ops) or '(none)'}"
        )

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete {self.__shm_schema_of_proxy__.name}.{name}: fields always hold a value")

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Nothing to release."""

    def __shm_close__(self) -> None:
        """Nothing to release."""


class RemoteStruct(Proxy):
    """Base class of the proxies of structs stored in Redis. A proxy of ``State`` reads and
    writes like a ``State``: ``s.steps += 1`` (two round trips, not atomic: use an ``Atomic``
    field or the lock), ``shmstruct.update(s, ...)``, ``shmstruct.snapshot(s)``."""

    __slots__ = ("_prefix", "_target")
    __shm_schema_of_proxy__: Schema
    _target: Target
    _prefix: str

    def __init__(self, target: Target, prefix: str) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_prefix", prefix)

    def __repr__(self) -> str:
        where = f"Redis key {self._target.keys.key!r}" + (f", {self._prefix[:-1]}" if self._prefix else "")
        return f"<{self.__shm_schema_of_proxy__.name} at {where}>"

    def __reduce__(self) -> Any:
        raise TypeError(
            f"a Redis struct proxy is not pickled: pass the key ({self._target.keys.key!r}) and attach in the "
            "other process with its own connection"
        )

    @property
    def lock(self) -> Any:
        """The struct's lock: a lease with a fencing token (see ``RemoteLock``)."""
        return self._target.store.lock_of(self._target.keys)

    # The module-level functions (shmstruct.snapshot, update, close, segment_name) call these.

    def __shm_snapshot__(self) -> Any:
        schema = self.__shm_schema_of_proxy__
        entries = self._target.read_all()
        return schema.model_from_values(_decoded(self._target, schema, entries, self._prefix))

    def __shm_update__(self, values: Mapping[str, Any]) -> None:
        self._target.write(checked_entries(self.__shm_schema_of_proxy__, self._prefix, values))

    def __shm_name__(self) -> str:
        return self._target.keys.key


def _decoded(target: Target, schema: Schema, entries: Mapping[str, bytes | None], prefix: str) -> dict[str, Any]:
    try:
        return {f.name: f.from_hash(entries, prefix) for f in schema.fields}
    except ValueError as exc:
        raise SegmentError(f"Redis key {target.keys.key!r} holds a damaged struct: {exc}") from None


class _Field(FieldAttribute):
    """The attribute of one plain field (scalar, text, array): a read is one round trip, a write
    is checked, then one round trip."""

    __slots__ = ("field", "keys", "name", "schema")

    def __init__(self, schema: Schema, name: str) -> None:
        self.schema = schema
        self.name = name
        self.field = schema.ops[name].field
        self.keys = self.field.hash_keys()

    def __get__(self, obj: RemoteStruct | None, owner: Any = None) -> Any:
        if obj is None:
            return self
        prefix = obj._prefix
        keys = self.keys if not prefix else self.field.hash_keys(prefix)
        values = obj._target.read(keys)
        try:
            return self.field.from_hash(dict(zip(keys, values, strict=True)), prefix)
        except ValueError as exc:
            raise SegmentError(f"Redis key {obj._target.keys.key!r} holds a damaged struct: {exc}") from None

    def __set__(self, obj: RemoteStruct, value: Any) -> None:
        obj._target.write(checked_entries(self.schema, obj._prefix, {self.name: value}))


class _NestedField(_Field):
    """The attribute of a nested struct: a proxy of the nested schema over the same hash."""

    __slots__ = ("inner",)

    def __init__(self, schema: Schema, name: str) -> None:
        super().__init__(schema, name)
        self.inner = proxy_class(schema_of(self.field.schema))

    def __get__(self, obj: RemoteStruct | None, owner: Any = None) -> Any:
        if obj is None:
            return self
        return self.inner(obj._target, f"{obj._prefix}{self.name}.")


class _AtomicField(_Field):
    """The attribute of an atomic field: a :class:`RemoteAtomic` (server-side operations)."""

    __slots__ = ()

    def __get__(self, obj: RemoteStruct | None, owner: Any = None) -> Any:
        if obj is None:
            return self
        return _HashAtomic(obj._target, self.schema, self.name, obj._prefix)


class RemoteAtomic:
    """An atomic integer field in Redis, of a struct or of a table's row: each operation is one
    server-side script, range-checked like the shared-memory ``Atomic``."""

    __slots__ = ("_field", "_target")

    def __init__(self, target: Target, field: Field) -> None:
        self._target = target
        self._field = field

    def __repr__(self) -> str:
        return f"<RemoteAtomic {self._field.qualname}>"

    def load(self) -> int:
        """The current value."""
        raise NotImplementedError

    def store(self, value: int, /) -> None:
        """Set the value (range-checked)."""
        raise NotImplementedError

    def exchange(self, value: int, /) -> int:
        """Set the value and return the previous one."""
        raise NotImplementedError

    def compare_exchange(self, expected: int, new: int, /) -> bool:
        """Set the value to ``new`` if it is ``expected``; return whether it was."""
        raise NotImplementedError

    def _added(self, delta: int) -> int:
        """Add ``delta`` on the server; the previous value.

        Raises:
            FieldValueError: The sum would leave the range.
        """
        raise NotImplementedError

    def add(self, n: int, /) -> int:
        """Add ``n`` on the server and return the previous value, like C's ``fetch_add``.

        Raises:
            FieldValueError: The result would leave the field's range (nothing changes).
        """
        return self._add("add", n)

    def sub(self, n: int, /) -> int:
        """Subtract ``n`` and return the previous value (range-checked like ``add``)."""
        return self._add("subtract", n)

    def _add(self, verb: str, given: Any) -> int:
        field = self._field
        row = field.row
        if isinstance(given, bool):
            raise FieldTypeError(f"{field.qualname}: {verb} takes an int, got {short_repr(given)}")
        try:
            delta = operator.index(given)  # numpy integers and IntEnums too, as in shared memory
        except TypeError:
            raise FieldTypeError(f"{field.qualname}: {verb} takes an int, got {short_repr(given)}") from None
        low, high = row.low, row.high
        assert isinstance(low, int) and isinstance(high, int)
        if not -(high - low) <= delta <= high - low:
            raise FieldValueError(
                f"{field.qualname}: cannot {verb} {given}: the field holds {row.c_name} ({low}..{high})"
            )
        try:
            return self._added(-delta if verb == "subtract" else delta)
        except FieldValueError:
            raise FieldValueError(
                f"{field.qualname}: cannot {verb} {given}: the result would leave {row.c_name}'s range "
                f"({low}..{high}); nothing changed"
            ) from None

    def _expected(self, expected: Any) -> int:
        if isinstance(expected, bool):
            raise FieldTypeError(f"{self._field.qualname}: expected must be an int, got {short_repr(expected)}")
        try:
            return operator.index(expected)
        except TypeError:
            raise FieldTypeError(
                f"{self._field.qualname}: expected must be an int, got {short_repr(expected)}"
            ) from None

    @property
    def _channel(self) -> str:
        """The channel shmstruct's writes of this struct or table publish on."""
        return f"{self._target.guarded[0]}:changed"

    def wait(self, old: int, timeout: float | None = None) -> bool:
        """Sleep until the value differs from ``old`` (``True``) or ``timeout`` seconds pass
        (``False``); returns at once if it differs already. The sleep is on the server: every
        write of the struct (or table) through shmstruct publishes on its channel, which this
        subscribes to before it reads the value, so a change cannot slip in between."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._target.store.listening(self._target.keys, self._channel) as listener:
            while True:
                if self.load() != old:
                    return True
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                # At most a few seconds at a time, to look again (a change made by another
                # program, which does not publish); never a busy loop.
                listener.heard(left)

    def notify_all(self) -> None:
        """Wake every ``wait`` on this struct or table (shmstruct's writes do it themselves; this
        is for changes made another way, such as a raw ``HSET``)."""
        target = self._target
        with target.store.errors(target.keys):
            target.store.client.publish(self._channel, "")

    def __int__(self) -> int:
        return self.load()

    __index__ = __int__

    def __eq__(self, other: object) -> bool:
        return self.load() == other

    def __ne__(self, other: object) -> bool:
        return self.load() != other

    def __lt__(self, other: int) -> bool:
        return self.load() < other

    def __le__(self, other: int) -> bool:
        return self.load() <= other

    def __gt__(self, other: int) -> bool:
        return self.load() > other

    def __ge__(self, other: int) -> bool:
        return self.load() >= other

    __hash__ = None  # type: ignore[assignment]


class _HashAtomic(RemoteAtomic):
    """An atomic field of a struct: a Redis integer in the struct's hash."""

    __slots__ = ("_key", "_prefix", "_schema")

    def __init__(self, target: Target, schema: Schema, name: str, prefix: str) -> None:
        super().__init__(target, schema.ops[name].field)
        self._schema = schema
        self._prefix = prefix
        self._key = prefix + name

    def load(self) -> int:
        raw = self._target.read([self._key])[0]
        try:
            value: int = self._field.from_hash({self._key: raw}, self._prefix)
        except ValueError as exc:
            raise SegmentError(f"Redis key {self._target.keys.key!r} holds a damaged struct: {exc}") from None
        return value

    def store(self, value: int, /) -> None:
        self._target.write(checked_entries(self._schema, self._prefix, {self._field.name: value}))

    def _added(self, delta: int) -> int:
        if not -(2**63) <= delta < 2**63:  # what HINCRBY takes
            raise FieldValueError("")
        low, high = self._bounds()
        exact = low >= -_EXACT_IN_LUA and high <= _EXACT_IN_LUA
        return self._run(self._target.script(_scripts.add, self._key, low, high, exact), str(delta))

    def exchange(self, value: int, /) -> int:
        entry = self._entry(value)
        return self._run(self._target.script(_scripts.exchange, self._key, *self._bounds()), entry)

    def compare_exchange(self, expected: int, new: int, /) -> bool:
        entry = self._entry(new)
        wanted = self._expected(expected)
        source = self._target.script(_scripts.compare_exchange, self._key, *self._bounds())
        return self._run(source, entry, str(wanted)) == wanted

    def _bounds(self) -> tuple[int, int]:
        low, high = self._field.row.low, self._field.row.high
        assert isinstance(low, int) and isinstance(high, int)
        return low, high

    def _entry(self, value: Any) -> str:
        entries = checked_entries(self._schema, self._prefix, {self._field.name: value})
        return entries[self._key].decode()

    def _run(self, source: str, *args: str) -> int:
        """Run an atomic script; the previous value it returns, decoded as a read would (the
        script refused a value that is not one of the field's)."""
        target = self._target
        token = target.store.token_of(target.keys)
        old = target.store.run(source, target.keys, target.guarded, [token, *args])
        try:
            value: int = self._field.from_hash({self._key: old}, self._prefix)
        except ValueError as exc:
            raise SegmentError(f"Redis key {target.keys.key!r} holds a damaged struct: {exc}") from None
        return value


def proxy_class(schema: Schema) -> type[RemoteStruct]:
    """The proxy class of a schema (made once).

    Raises:
        SchemaError: A field Redis cannot hold as the schema declares it (an ``Atomic[uint64]``:
            Redis integers are signed 64-bit).
    """
    with _classes_guard:
        found = _classes.get(schema)
    if found is not None:
        return found
    check_size(schema, "a struct")
    namespace: dict[str, Any] = {}
    for field in schema.fields:
        if field.atomic:
            if field.row.high is not None and field.row.high > 2**63 - 1:
                raise SchemaError(
                    f"{field.qualname}: Redis integers are signed 64-bit, so an {field.c_decl} atomic field cannot "
                    "be one; declare Atomic[int] (int64) to store it in Redis"
                )
            namespace[field.name] = _AtomicField(schema, field.name)
        elif field.schema is not None:
            namespace[field.name] = _NestedField(schema, field.name)
        else:
            namespace[field.name] = _Field(schema, field.name)
    made = make_proxy_class(schema, RemoteStruct, f"Remote{schema.name}", namespace)
    with _classes_guard:
        return _classes.setdefault(schema, made)
