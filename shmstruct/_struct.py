"""``SharedStruct``: a schema class whose instances are live proxies into one shared block.

How it is built. The metaclass resolves each declared field (:mod:`shmstruct._fields`), compiles
the layout (:mod:`shmstruct._layout`), and creates the class as a ctypes ``Structure`` with the
same ``_fields_``. An instance *is* that structure, mapped over the block, so a scalar read is
ctypes' own C-level field read. Writes go through one generated ``__setattr__`` per class: a
dictionary lookup and a type-and-range check on the fast path (exact ``int`` / ``float`` /
``bool`` within range), the full checks of :mod:`shmstruct._checks` otherwise. Text and array
fields are read through small descriptors (numpy views are made once per instance and cached in
its ``__dict__``); nested structs are ctypes' own sub-structure proxies.
"""

from __future__ import annotations

import ctypes
import mmap
import sys
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from typing_extensions import dataclass_transform

from ._atomic import Atomic
from ._block import DEFAULT_MODE, SharedBlock
from ._checks import Preparer, array_preparer, decode_text, scalar_preparer, short_repr, text_preparer, with_constraints
from ._errors import FieldTypeError, SchemaError
from ._fields import MISSING, Field, resolve_field
from ._header import CHANGES
from ._layout import Layout, compile_layout, same_offsets
from ._lifecycle import Reference, What, reference_to, register_builder
from ._lock import SharedLock
from ._native import FieldSetter
from ._specs import NestedSpec

__all__ = ["SchemaMeta", "SharedStruct"]

if TYPE_CHECKING:
    from _ctypes import _PyCStructType as _StructType

    from typing_extensions import ParamSpec, Self, TypeVar

    from ._table import Log, Table

    _S = TypeVar("_S")
    _P = ParamSpec("_P")
else:
    _StructType = type(ctypes.Structure)

Store = Callable[[Any, Any], None]


class _Never:
    """A type no value has: fields listed with it never take the fast write path."""


@dataclass(frozen=True)
class FieldOps:
    """How the runtime reads and writes one field: check the value, then store it (under the lock
    if ``locked``); ``fast_target`` is what the C fast path of ``__setattr__`` stores through (the
    ctypes field, or ``store``); ``attribute`` is the class attribute that reads the field, when
    ctypes' own does not (arrays, text, atomics)."""

    field: Field
    prepare: Preparer
    store: Store
    locked: bool
    fast_target: Any = None
    attribute: Any = None


# --------------------------------------------------------------------------- finding the block


def _root_dict(obj: Any) -> dict[str, Any]:
    """The ``__dict__`` of the proxy that holds the block (nested proxies point to their parent)."""
    while True:
        state: dict[str, Any] = obj.__dict__
        if "_block_" in state:
            return state
        obj = obj._b_base_
        if obj is None:
            raise RuntimeError("this struct is not attached to shared memory")


def _lock_of(obj: Any) -> SharedLock:
    lock: SharedLock = _root_dict(obj)["lock"]
    return lock


def _block_of(obj: Any) -> SharedBlock:
    block: SharedBlock = _root_dict(obj)["_block_"]
    return block


class _LockAttribute:
    """``s.lock``: the block's lock. Top-level proxies hold it in ``__dict__`` (found at C speed)."""

    def __get__(self, obj: Any, owner: type[Any] | None = None) -> Any:
        return self if obj is None else _lock_of(obj)


class _ArrayAttribute:
    """An array field: a numpy view over the block, made once per proxy and cached in its ``__dict__``."""

    def __init__(self, field: Field) -> None:
        self.field = field

    def __get__(self, obj: Any, owner: type[Any] | None = None) -> Any:
        if obj is None:
            return self
        f = self.field
        block = _block_of(obj)
        view: np.ndarray[Any, Any] = np.ndarray(
            f.shape, dtype=f.dtype.base, buffer=block.view_buffer(), offset=block.offset_of(obj) + f.offset
        )
        obj.__dict__[f.name] = view
        return view


class _AtomicAttribute:
    """An atomic field: an :class:`Atomic` over the shared value, made once per proxy and cached
    in its ``__dict__`` (so ``s.hits.add(1)`` is a dictionary hit and one C call)."""

    def __init__(self, field: Field) -> None:
        self.field = field
        self.c_name = field.scalar.c_name if field.scalar is not None else ""

    def __get__(self, obj: Any, owner: type[Any] | None = None) -> Any:
        if obj is None:
            return self
        f = self.field
        block = _block_of(obj)
        value: Atomic[int] = Atomic(
            block.view_buffer(), block.offset_of(obj) + f.offset, self.c_name, f.qualname, CHANGES
        )
        obj.__dict__[f.name] = value
        return value


def _atomic_store(field: Field, attribute: _AtomicAttribute, plain: Store) -> Store:
    """Writes of an atomic field: an atomic store (which wakes its waiters) in a block; a plain
    store into private memory (a default image, a log row not yet published)."""
    name = field.name

    def store(obj: Any, value: Any) -> None:
        atomic = obj.__dict__.get(name)
        if atomic is None:
            try:
                atomic = attribute.__get__(obj)
            except RuntimeError:  # not in shared memory
                plain(obj, value)
                return
        atomic.store(value)

    return store


class _TextAttribute:
    """A text field, read under the lock so that a concurrent write is never seen half done."""

    def __init__(self, field: Field) -> None:
        self.field = field

    def __get__(self, obj: Any, owner: type[Any] | None = None) -> Any:
        if obj is None:
            return self
        with _lock_of(obj):
            raw = ctypes.string_at(ctypes.addressof(obj) + self.field.offset, self.field.size)
        return decode_text(raw)


# --------------------------------------------------------------------------- compiling a class


def _blob_store(offset: int, size: int) -> Store:
    def store(obj: Any, data: Any) -> None:
        source = data if isinstance(data, bytes) else data.ctypes.data
        ctypes.memmove(ctypes.addressof(obj) + offset, source, size)

    return store


def _nested_preparer(field: Field) -> Preparer:
    schema: Any = field.schema
    size = field.size

    def prepare_nested(value: Any) -> bytes:
        if isinstance(value, schema):
            return locked_bytes(value, size)
        if hasattr(value, "model_dump") and not isinstance(value, type):  # a snapshot of the nested schema
            value = value.model_dump()
        if not isinstance(value, Mapping):
            raise FieldTypeError(
                f"{field.qualname} expects a {schema.__name__}, a snapshot of one or a mapping of its fields, got {short_repr(value)}"
            )
        try:
            image: bytes = schema._shm_image_(value)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{field.qualname}: {exc}") from exc
        return image

    return prepare_nested


def _field_ops(cls: Any, field: Field) -> FieldOps:
    if field.kind == "scalar":
        assert field.scalar is not None
        cfield = cls.__dict__.get(field.name) or getattr(cls, field.name)
        prepare = with_constraints(field, scalar_preparer(field, field.scalar))
        if field.atomic:
            attribute = _AtomicAttribute(field)
            store = _atomic_store(field, attribute, cfield.__set__)
            return FieldOps(field, prepare, store, False, store, attribute)
        return FieldOps(field, prepare, cfield.__set__, False, cfield)
    store = _blob_store(field.offset, field.size)
    if field.kind == "text":
        return FieldOps(
            field, with_constraints(field, text_preparer(field)), store, True, attribute=_TextAttribute(field)
        )
    if field.kind == "array":
        return FieldOps(field, array_preparer(field), store, True, attribute=_ArrayAttribute(field))
    return FieldOps(field, _nested_preparer(field), store, True)


def _fast_path_entry(ops: FieldOps) -> tuple[Any, Any, Any, type]:
    """What ``__setattr__`` checks in C: an exact Python type and its range, or never."""
    f = ops.field
    row = f.scalar
    if f.kind == "scalar" and row is not None and not f.constraints and row.python_type in (int, float, bool):
        return (ops.fast_target, row.low, row.high, row.python_type)
    return (ops.store, 0, 0, _Never)


def _make_setattr(cls: Any) -> Callable[[Any, str, Any], None]:
    ops: dict[str, FieldOps] = cls._shm_ops_
    writers = {name: _fast_path_entry(op) for name, op in ops.items()}

    def slow_write(obj: Any, name: str, value: Any) -> None:
        op = ops.get(name)
        if op is None:
            raise _no_such_field(type(obj), name)
        prepared = op.prepare(value)
        if op.locked:
            with _lock_of(obj):
                op.store(obj, prepared)
        else:
            op.store(obj, prepared)

    # The fast path (an exact int, float or bool within range) runs in C; everything else here.
    return FieldSetter(writers, slow_write)


def _no_such_field(cls: Any, name: str) -> AttributeError:
    names = ", ".join(cls._shm_ops_) or "(none)"
    return AttributeError(f"{cls.__name__} has no field {name!r}; its fields are: {names}")


def _default_runs(cls: Any, layout: Layout, defaults: list[tuple[Field, Store, Any]]) -> tuple[tuple[int, bytes], ...]:
    """The non-zero stretches of the defaults: what a fresh (zero-filled) block still needs.

    Only the bytes up to the last field with a default are ever materialised, so a schema with a
    large array field (arrays start zero-filled) costs no large private buffer.
    """
    extent = max((f.offset + f.size for f, _, _ in defaults), default=0)
    scratch = mmap.mmap(-1, max(extent, 1))  # zero pages, allocated only where a default lands
    anchor = ctypes.c_char.from_buffer(scratch)
    base = ctypes.addressof(anchor)
    obj = cls.from_address(base)  # only fields below ``extent`` are written
    for _, store, prepared in defaults:
        store(obj, prepared)
    runs: list[tuple[int, bytes]] = []
    for f, _, _ in sorted(defaults, key=lambda entry: entry[0].offset):
        chunk = ctypes.string_at(base + f.offset, f.size)
        if not any(chunk):
            continue
        if runs and runs[-1][0] + len(runs[-1][1]) == f.offset:
            runs[-1] = (runs[-1][0], runs[-1][1] + chunk)
        else:
            runs.append((f.offset, chunk))
    del obj, anchor
    scratch.close()
    return tuple(runs)


def default_image(cls: Any) -> bytes:
    """The bytes of one struct holding the schema's defaults (made on first use, then kept: tables,
    logs and nested values need it; a plain struct never does)."""
    image: bytes | None = cls.__dict__.get("_shm_default_image_")
    if image is None:
        buffer = bytearray(cls.layout.size)
        for offset, data in cls._shm_default_runs_:
            buffer[offset : offset + len(data)] = data
        image = bytes(buffer)
        cls._shm_default_image_ = image
    return image


def _annotations_of(namespace: dict[str, Any]) -> dict[str, Any]:
    if "__annotations__" in namespace:
        return dict(namespace["__annotations__"])
    annotate = namespace.get("__annotate__")  # Python 3.14: annotations are evaluated lazily
    return dict(annotate(1)) if callable(annotate) else {}


def _evaluate(owner: str, name: str, annotation: Any, namespace: dict[str, Any]) -> Any:
    if not isinstance(annotation, str):
        return annotation
    module = sys.modules.get(namespace.get("__module__", ""))
    try:
        return eval(annotation, dict(vars(module)) if module else {}, dict(namespace))
    except NameError as exc:
        raise SchemaError(
            f"{owner}.{name}: cannot resolve the annotation {annotation!r} ({exc}); define the names it uses at module level"
        ) from None


def _is_classvar(annotation: Any) -> bool:
    return annotation is ClassVar or typing.get_origin(annotation) is ClassVar


def _schema_dtype(candidate: Any) -> np.dtype[Any] | None:
    layout = getattr(candidate, "layout", None) if isinstance(candidate, SchemaMeta) else None
    return layout.dtype if isinstance(layout, Layout) else None


RESERVED_NAMES = frozenset(
    {"lock", "snapshot", "update", "layout", "dtype", "table", "log", "attach", "name", "close", "options"}
)


class SchemaMeta(_StructType):
    """The metaclass of every schema: compiles the declared fields into a ctypes layout."""

    def __new__(mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any) -> SchemaMeta:
        if namespace.pop("_shm_root_", False):
            return super().__new__(mcls, name, bases, namespace, **kwargs)
        parents = [b for b in bases if isinstance(b, SchemaMeta)]
        if len(parents) != 1:
            raise SchemaError(f"{name}: a schema extends exactly one SharedStruct class, got {len(parents)}")
        parent_layout = getattr(parents[0], "layout", None)
        inherited = {f.name for f in parent_layout.fields} if parent_layout else set()
        own: list[Field] = []
        for field_name, raw in _annotations_of(namespace).items():
            annotation = _evaluate(name, field_name, raw, namespace)
            if _is_classvar(annotation):
                continue
            _check_name(name, field_name, inherited, parents[0])
            default = namespace.pop(field_name, MISSING)
            own.append(resolve_field(name, field_name, annotation, default, _schema_dtype))
        for field_name in inherited & namespace.keys():
            raise SchemaError(
                f"{name}.{field_name}: a subclass cannot change the field {field_name!r} of its parent "
                f"(its default or its type); declare a field with another name"
            )
        namespace["_fields_"] = [(f.name, f.ctype) for f in own]
        namespace["layout"] = compile_layout(name, own, parent_layout)
        return super().__new__(mcls, name, bases, namespace, **kwargs)

    def __init__(cls, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(name, bases, namespace, **kwargs)  # Python 3.13+ lays out _fields_ here
        layout = namespace.get("layout")
        if not isinstance(layout, Layout):
            return
        if not same_offsets(layout, cls):  # pragma: no cover - ctypes lays out equal _fields_ equally
            raise SchemaError(f"{name}: internal error, the class and its compiled layout disagree")
        _install_runtime(cls, layout)

    def __call__(cls, *args: Any, **values: Any) -> Any:
        """Allocate a shared block, check every value, and return a proxy to it."""
        return create_struct(cls, args, values, {})


def create_struct(cls: Any, args: tuple[Any, ...], values: Mapping[str, Any], options: Mapping[str, Any]) -> Any:
    """A new struct of schema ``cls`` holding the defaults updated with ``values`` (``args`` must be
    empty: fields are given by keyword); ``options`` are :meth:`SharedBlock.create`'s (name, keep, mode)."""
    if args:
        raise TypeError(f"{cls.__name__}() takes keyword arguments only, e.g. {cls.__name__}(field=value)")
    layout: Layout | None = getattr(cls, "layout", None)
    if layout is None:
        raise TypeError(f"{cls.__name__} declares no fields; subclass it to declare a schema")
    writes = cls._shm_prepare_(values, partial=False)
    block = SharedBlock.create(cls, "struct", layout.size, **options)
    start = block.data_offset
    for offset, data in cls._shm_default_runs_:
        block.mmap[start + offset : start + offset + len(data)] = data
    obj = bind_proxy(cls, block, start)
    for store, prepared in writes:
        store(obj, prepared)
    return obj


class StructFactory:
    """What ``Schema.options(...)`` returns: call it with the fields to create a struct with those options."""

    __slots__ = ("options", "schema")

    def __init__(self, schema: type[Any], options: dict[str, Any]) -> None:
        self.schema = schema
        self.options = options

    def __call__(self, *args: Any, **values: Any) -> Any:
        return create_struct(self.schema, args, values, self.options)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{self.schema.__name__}.options({shown})"


def _check_name(owner: str, name: str, inherited: set[str], parent: type) -> None:
    if name.startswith("_"):
        raise SchemaError(f"{owner}.{name}: field names cannot start with '_' (those are kept for the library)")
    if name in RESERVED_NAMES or (hasattr(parent, name) and name not in inherited):
        raise SchemaError(
            f"{owner}.{name}: {name!r} is reserved for SharedStruct's own API; choose another field name, e.g. {name}_"
        )
    if name in inherited:
        raise SchemaError(
            f"{owner}.{name}: the parent schema already declares {name!r}; a subclass can only add fields"
        )


def _install_runtime(cls: Any, layout: Layout) -> None:
    """Attach what the runtime reads: per-field operations, attribute descriptors, defaults."""
    cls.dtype = layout.dtype
    ops = {f.name: _field_ops(cls, f) for f in layout.fields}
    cls._shm_ops_ = ops
    cls._shm_steps_ = {name: (op.store, op.prepare) for name, op in ops.items()}
    cls._shm_required_ = tuple(f.name for f in layout.fields if f.required)
    for name, op in ops.items():
        if op.attribute is not None:
            setattr(cls, name, op.attribute)
    cls.__setattr__ = _make_setattr(cls)
    defaults: list[tuple[Field, Store, Any]] = []
    for f in layout.fields:
        default = f.default
        if default is MISSING or f.kind == "array":
            continue
        if isinstance(default, NestedSpec):
            default = default.overrides
        try:
            defaults.append((f, ops[f.name].store, ops[f.name].prepare(default)))
        except (TypeError, ValueError) as exc:
            detail = str(exc).removeprefix(f"{f.qualname}: ").removeprefix(f"{f.qualname} ")
            raise SchemaError(f"{f.qualname}: the default {short_repr(default)} is invalid: {detail}") from None
    cls._shm_default_runs_ = _default_runs(cls, layout, defaults)


def _write_image(cls: Any, start: bytes, writes: list[tuple[Store, Any]]) -> bytes:
    """The bytes of one private ``cls`` struct: ``start`` with the prepared ``writes`` applied."""
    image = bytearray(start)
    scratch = cls.from_buffer(image)
    for store, prepared in writes:
        store(scratch, prepared)
    del scratch  # releases its export of ``image``
    return bytes(image)


def locked_bytes(obj: Any, size: int) -> bytes:
    """The first ``size`` bytes of a proxy, copied under its block's lock (one consistent moment)."""
    with _lock_of(obj):
        return ctypes.string_at(ctypes.addressof(obj), size)


def bind_proxy(cls: Any, block: SharedBlock, offset: int) -> Any:
    """A proxy of ``cls`` over ``block`` at ``offset`` bytes (a struct, or one row of a table)."""
    obj = cls.from_buffer(block.mmap, offset)
    state = obj.__dict__
    state["_block_"] = block
    state["lock"] = block.lock
    return obj


def _rebuild_proxy(block: SharedBlock, reference: Reference) -> Any:
    """Rebuild a proxy from its pickled reference: the same block, the same lock."""
    return bind_proxy(reference.cls, block, reference.offset)


register_builder(What.STRUCT, _rebuild_proxy)


# --------------------------------------------------------------------------- the runtime base


class _StructMethods:
    """The methods every schema instance has (mixed into the runtime ``SharedStruct``)."""

    _shm_ops_: ClassVar[dict[str, FieldOps]]
    _shm_steps_: ClassVar[dict[str, tuple[Store, Preparer]]]  # the same, flattened for bulk writes
    _shm_required_: ClassVar[tuple[str, ...]]
    _shm_default_runs_: ClassVar[tuple[tuple[int, bytes], ...]]
    layout: ClassVar[Layout]

    @classmethod
    def _shm_prepare_(cls, values: Mapping[str, Any], partial: bool) -> list[tuple[Store, Any]]:
        """Check every value before anything is written; unknown or missing names are errors."""
        ops = cls._shm_ops_
        if not values.keys() <= ops.keys():
            unknown = [name for name in values if name not in ops]
            raise FieldTypeError(
                f"{cls.__name__} has no field {', '.join(map(repr, unknown))}; its fields are: {', '.join(ops) or '(none)'}"
            )
        if not partial and cls._shm_required_:
            missing = [name for name in cls._shm_required_ if name not in values]
            if missing:
                raise FieldTypeError(f"{cls.__name__}() is missing required field(s): {', '.join(missing)}")
        steps = cls._shm_steps_
        writes = []
        for name, value in values.items():
            store, prepare = steps[name]
            writes.append((store, prepare(value)))
        return writes

    @classmethod
    def _shm_image_(cls, values: Mapping[str, Any]) -> bytes:
        """The bytes of one struct holding the defaults updated with ``values`` (for nested fields)."""
        return _write_image(cls, default_image(cls), cls._shm_prepare_(values, partial=False))

    @classmethod
    def table(
        cls, rows: int, *, name: str | None = None, keep: bool = False, mode: int = DEFAULT_MODE, reserve: bool = True
    ) -> Any:
        """A shared table of ``rows`` records of this schema, each starting with the defaults."""
        from ._table import create_table

        return create_table(
            cls, rows, default_image(cls), {"name": name, "keep": keep, "mode": mode, "reserve": reserve}
        )

    @classmethod
    def log(
        cls,
        capacity: int,
        *,
        ring: bool = False,
        name: str | None = None,
        keep: bool = False,
        mode: int = DEFAULT_MODE,
        reserve: bool = True,
    ) -> Any:
        """An empty shared append-only log with room for ``capacity`` records of this schema."""
        from ._table import create_log

        return create_log(cls, capacity, ring, {"name": name, "keep": keep, "mode": mode, "reserve": reserve})

    @classmethod
    def options(
        cls, *, name: str | None = None, keep: bool = False, mode: int = DEFAULT_MODE, reserve: bool = True
    ) -> StructFactory:
        """Create structs with a chosen segment name, lifetime or permissions:
        ``State.options(name="sim", keep=True)(steps=0)``.

        ``reserve=False`` skips reserving the segment's memory at creation (for sparse giant
        arrays): creation is then nearly free, but a write to a page that a full ``/dev/shm``
        cannot back kills the process with ``SIGBUS``."""
        return StructFactory(cls, {"name": name, "keep": keep, "mode": mode, "reserve": reserve})

    @classmethod
    def attach(cls, name: str) -> Any:
        """A live proxy to the struct of this schema in segment ``name``, from any process.

        Raises:
            SharedMemoryGoneError: No segment of that name exists (any more).
            SchemaMismatchError: The segment holds another schema, or another version of this one.
            SegmentError: The segment is not a shmstruct struct (or is a table or log).
        """
        block = SharedBlock.attach(name, cls, "struct")
        return bind_proxy(cls, block, block.data_offset)

    @property
    def name(self) -> str:
        """The name of the shared segment holding this struct (what ``attach`` takes)."""
        return _block_of(self).name

    def close(self) -> None:
        """Stop using the struct in this process (see the lifecycle in the README). Idempotent."""
        _block_of(self).close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def update(self, **values: Any) -> None:
        """Write several fields at once, under the lock: all of them or, if any value is rejected, none.

        Raises:
            FieldTypeError: An unknown field, or a value of the wrong type.
            FieldValueError: A value out of range or against a constraint.
        """
        writes = type(self)._shm_prepare_(values, partial=True)
        with _lock_of(self):
            for store, prepared in writes:
                store(self, prepared)

    def snapshot(self) -> Any:
        """A consistent copy of every field, taken under the lock, as a frozen pydantic model.

        Nested structs become nested models and arrays read-only numpy copies; ``model_dump()``
        and ``model_dump_json()`` work (arrays dump to lists in JSON).
        """
        from ._snapshot import take_snapshot

        return take_snapshot(self)

    def __reduce__(self) -> tuple[Any, ...]:
        block = _block_of(self)
        return reference_to(block, What.STRUCT, type(self), block.offset_of(self))

    def __copy__(self) -> Any:
        raise TypeError(f"{type(self).__name__} is a view of shared memory; use .snapshot() for a private copy")

    def __deepcopy__(self, memo: Any) -> Any:
        return self.__copy__()

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete {type(self).__name__}.{name}: fields always hold a value")

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in type(self)._shm_ops_)
        return f"{type(self).__name__}({shown})"


if TYPE_CHECKING:

    @dataclass_transform(kw_only_default=True)
    class SharedStruct:
        """Base class of schemas: subclass it and declare fields with type annotations.

        Each instance is a live proxy of one shared segment that holds every field, plus one
        re-entrant, crash-safe lock. Instances pickle to a reference; ``Schema.attach(name)``
        reaches the same segment from any process; ``close()`` ends this process's use of it.
        """

        layout: ClassVar[Layout]
        dtype: ClassVar[np.dtype[np.void]]

        @property
        def lock(self) -> SharedLock:
            """The re-entrant lock shared by every process that uses this struct."""

        def update(self, **values: Any) -> None:
            """Write several fields at once, under the lock: all of them or none."""

        def snapshot(self) -> Any:
            """A consistent copy of every field, taken under the lock, as a frozen pydantic model."""

        @classmethod
        def table(
            cls, rows: int, *, name: str | None = None, keep: bool = False, mode: int = 0o600, reserve: bool = True
        ) -> Table[Self]:
            """A shared table of ``rows`` records of this schema, each starting with the defaults."""

        @classmethod
        def log(
            cls: Callable[_P, _S],
            capacity: int,
            *,
            ring: bool = False,
            name: str | None = None,
            keep: bool = False,
            mode: int = 0o600,
            reserve: bool = True,
        ) -> Log[_S, _P]:
            """An empty shared append-only log with room for ``capacity`` records of this schema.

            ``append`` takes the same keywords as the schema's constructor (mypy checks them).
            """

        @classmethod
        def options(
            cls: Callable[_P, _S],
            *,
            name: str | None = None,
            keep: bool = False,
            mode: int = 0o600,
            reserve: bool = True,
        ) -> Callable[_P, _S]:
            """Create structs with a chosen segment name, lifetime or permissions."""

        @classmethod
        def attach(cls, name: str) -> Self:
            """A live proxy to the struct of this schema in segment ``name``, from any process."""

        @property
        def name(self) -> str:
            """The name of the shared segment holding this struct (what ``attach`` takes)."""

        def close(self) -> None:
            """Stop using the struct in this process. Idempotent."""

        def __enter__(self) -> Self: ...
        def __exit__(self, *exc_info: object) -> None: ...

else:

    class SharedStruct(_StructMethods, ctypes.Structure, metaclass=SchemaMeta):
        """Base class of schemas: subclass it and declare fields with type annotations.

        Each instance is a live proxy of one shared segment that holds every field, plus one
        re-entrant, crash-safe lock: ``with s.lock:`` makes several reads and writes one step for
        every other process. Scalars read and write as Python values with checked writes;
        ``text(n)`` fields read as ``str``; ``array(shape)`` fields read as zero-copy numpy views;
        ``nested()`` fields are proxies into the same segment.

        Instances pickle to a reference (the segment's ``name``), so they can be handed to any
        process; ``Schema.attach(name)`` reaches the same segment from any process on the machine.
        ``close()`` (or a ``with`` block) ends this process's use of it; the last process to stop
        removes it.
        """

        _shm_root_ = True
        _fields_ = []
        lock = _LockAttribute()
