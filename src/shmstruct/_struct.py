"""``SharedStruct``: a schema class whose instances are live proxies into one shared block.

How it is built. The metaclass resolves each declared field (:mod:`shmstruct._kinds`), compiles
the layout (:mod:`shmstruct._layout`) and creates the class as a ctypes ``Structure`` with the
same ``_fields_``; then it compiles the schema (:mod:`shmstruct._schema`) and keeps it at
``cls.__shm_schema__``. An instance *is* that structure, mapped over the block, so a scalar read
is ctypes' own C-level field read. Writes go through one ``__setattr__`` per class: a dictionary
lookup and a type-and-range check in C on the fast path (exact ``int`` / ``float`` / ``bool``
within range), the field kind's full checks otherwise.

The class's namespace belongs to the user: every field name is allowed except ``lock`` and names
starting with ``_``. The methods of :class:`SharedStruct` (``update``, ``snapshot``, ``close``,
``name``, ``table``, ...) are conveniences that a field of the same name shadows; the functions
of :mod:`shmstruct._functions` always work.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable, Mapping

from ._block import SharedBlock
from ._cpython import namespace_annotations
from ._errors import SchemaError
from ._kinds import MISSING, Field, compiled_schema, resolve_field
from ._kinds._base import typing_if_imported
from ._layout import Layout, compile_layout, same_offsets
from ._lifecycle import Reference, What, reference_to, register_builder
from ._native import FieldSetter
from ._proxy import block_of, lock_of, locked_bytes
from ._schema import Schema, from_buffer, schema_of

TYPE_CHECKING = False  # typing is for type checkers only: importing it costs a spawned child ~5 ms
if TYPE_CHECKING:
    from typing import Any, ClassVar

__all__ = ["SchemaMeta", "SharedStruct", "StructFactory", "attach_struct", "bind_proxy", "create_struct"]

_StructType: Any = type(ctypes.Structure)

#: Names a schema may not define, because the library's machinery lives there: instances are views
#: of shared memory that other processes create and attach, so no per-instance hook would run
#: everywhere it should.
_REFUSED_HOOKS = {
    "__init__": "a schema has no __init__: its instances are views of shared memory, created by State(...) "
    "or attached by name in other processes. Put initial values in the field defaults, checks in "
    "Annotated[...] constraints, and setup in a function or classmethod that creates the struct",
    "__post_init__": "a schema has no __post_init__ (it would run in the creating process only, never on "
    "attach or for table rows). Put checks in Annotated[...] constraints, and setup in a function or "
    "classmethod that creates the struct",
    "__new__": "a schema cannot define __new__: instances are created by the library",
    "__setattr__": "a schema cannot define __setattr__: the library checks every write",
    "__delattr__": "a schema cannot define __delattr__: fields always hold a value",
}

#: The one field name besides private ones (``_...``) that a schema cannot use.
RESERVED_NAMES = frozenset({"lock"})


def _make_setattr(schema: Schema) -> Callable[[Any, str, Any], None]:
    ops = schema.ops
    writers = {name: op.fast for name, op in ops.items() if op.fast is not None}

    def slow_write(obj: Any, name: str, value: Any) -> None:
        op = ops.get(name)
        if op is None:
            raise AttributeError(f"{schema.name} has no field {name!r}; its fields are: {', '.join(ops) or '(none)'}")
        prepared = op.prepare(value)
        if op.locked:
            with lock_of(obj):
                op.store(obj, prepared)
        else:
            op.store(obj, prepared)

    # The fast path (an exact int, float or bool within range) runs in C; everything else here.
    return FieldSetter(writers, slow_write)


def _evaluate(owner: str, name: str, annotation: Any, namespace: dict[str, Any]) -> Any:
    if not isinstance(annotation, str):
        return annotation
    module = sys.modules.get(namespace.get("__module__", ""))
    try:
        # As typing.get_type_hints does: the module's globals, then the class namespace.
        return eval(annotation, dict(vars(module)) if module else {}, dict(namespace))
    except NameError as exc:
        raise SchemaError(
            f"{owner}.{name}: cannot resolve the annotation {annotation!r} ({exc}); "
            "define the names it uses at module level"
        ) from None


def _is_classvar(annotation: Any) -> bool:
    typing = typing_if_imported()  # a ClassVar annotation exists only once typing is imported
    return typing is not None and (annotation is typing.ClassVar or typing.get_origin(annotation) is typing.ClassVar)


def _check_name(owner: str, name: str, inherited: set[str]) -> None:
    if name.startswith("_"):
        raise SchemaError(f"{owner}.{name}: field names cannot start with '_' (those are kept for the library)")
    if name in RESERVED_NAMES:
        raise SchemaError(
            f"{owner}.{name}: {name!r} is the struct's shared lock (s.lock); choose another field name, e.g. {name}_"
        )
    if name in inherited:
        raise SchemaError(
            f"{owner}.{name}: the parent schema already declares {name!r}; a subclass can only add fields"
        )


class SchemaMeta(_StructType):  # type: ignore[misc]
    """The metaclass of every schema: compiles the declared fields into a ctypes layout and a
    compiled schema (``__shm_schema__``)."""

    def __new__(mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any) -> SchemaMeta:
        if namespace.pop("_shm_root_", False):
            return super().__new__(mcls, name, bases, namespace, **kwargs)  # type: ignore[no-any-return]
        parents = [b for b in bases if isinstance(b, SchemaMeta)]
        if len(parents) != 1:
            raise SchemaError(f"{name}: a schema extends exactly one SharedStruct class, got {len(parents)}")
        for hook, why in _REFUSED_HOOKS.items():
            if hook in namespace:
                raise SchemaError(f"{name}.{hook}: {why}")
        parent = compiled_schema(parents[0])
        parent_layout = parent.layout if parent is not None else None
        inherited = {f.name for f in parent_layout.fields} if parent_layout else set()
        own: list[Field] = []
        for field_name, raw in namespace_annotations(namespace).items():
            annotation = _evaluate(name, field_name, raw, namespace)
            if _is_classvar(annotation):
                continue
            _check_name(name, field_name, inherited)
            default = namespace.pop(field_name, MISSING)
            own.append(resolve_field(name, field_name, annotation, default))
        for field_name in inherited & namespace.keys():
            raise SchemaError(
                f"{name}.{field_name}: a subclass cannot change the field {field_name!r} of its parent "
                f"(its default or its type); declare a field with another name"
            )
        namespace["_fields_"] = [(f.name, f.ctype) for f in own]
        namespace["__shm_schema__"] = compile_layout(name, own, parent_layout)  # compiled in __init__
        return super().__new__(mcls, name, bases, namespace, **kwargs)  # type: ignore[no-any-return]

    def __init__(cls, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(name, bases, namespace, **kwargs)  # Python 3.13+ lays out _fields_ here
        layout = namespace.get("__shm_schema__")
        if not isinstance(layout, Layout):
            return
        if not same_offsets(layout, cls):  # pragma: no cover - ctypes lays out equal _fields_ equally
            raise SchemaError(f"{name}: internal error, the class and its compiled layout disagree")
        parent = next(compiled_schema(b) for b in bases if isinstance(b, SchemaMeta))
        schema = Schema(cls, layout, parent)
        setattr(cls, "__shm_schema__", schema)  # noqa: B010 - set on a class the metaclass builds
        for field_name, op in schema.ops.items():
            if op.attribute is not None:
                setattr(cls, field_name, op.attribute)
        setattr(cls, "__setattr__", _make_setattr(schema))  # noqa: B010

    def __call__(cls, *args: Any, **values: Any) -> Any:
        """Allocate a shared block, check every value, and return a proxy to it."""
        return create_struct(cls, args, values, {})


def create_struct(cls: Any, args: tuple[Any, ...], values: Mapping[str, Any], options: Mapping[str, Any]) -> Any:
    """A new struct of schema ``cls`` holding the defaults updated with ``values`` (``args`` must be
    empty: fields are given by keyword); ``options`` are :meth:`SharedBlock.create`'s (name, keep,
    mode, reserve)."""
    if args:
        raise TypeError(f"{cls.__name__}() takes keyword arguments only, e.g. {cls.__name__}(field=value)")
    if compiled_schema(cls) is None:
        raise TypeError(f"{cls.__name__} declares no fields; subclass it to declare a schema")
    schema = schema_of(cls)
    writes = schema.prepare(values, partial=False)
    block = SharedBlock.create(cls, "struct", schema.size, **options)
    start = block.data_offset
    for offset, data in schema.default_runs:
        block.mmap[start + offset : start + offset + len(data)] = data
    obj = bind_proxy(cls, block, start)
    for store, prepared in writes:
        store(obj, prepared)
    return obj


def bind_proxy(cls: Any, block: SharedBlock, offset: int) -> Any:
    """A proxy of ``cls`` over ``block`` at ``offset`` bytes (a struct, or one row of a table)."""
    obj = from_buffer(cls, block.mmap, offset)
    state = obj.__dict__
    state["_block_"] = block
    state["lock"] = block.lock
    return obj


def attach_struct(cls: Any, name: str) -> Any:
    """A live proxy to the struct of schema ``cls`` in segment ``name``."""
    schema_of(cls)
    block = SharedBlock.attach(name, cls, "struct")
    return bind_proxy(cls, block, block.data_offset)


def _rebuild_proxy(block: SharedBlock, reference: Reference) -> Any:
    """Rebuild a proxy from its pickled reference: the same block, the same lock."""
    return bind_proxy(reference.cls, block, reference.offset)


register_builder(What.STRUCT, _rebuild_proxy)


class StructFactory:
    """What ``shmstruct.options(Schema, ...)`` returns: call it with the fields to create a struct
    with those options."""

    __slots__ = ("options", "schema")

    def __init__(self, schema: type[Any], options: dict[str, Any]) -> None:
        self.schema = schema
        self.options = options

    def __call__(self, *args: Any, **values: Any) -> Any:
        return create_struct(self.schema, args, values, self.options)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"shmstruct.options({self.schema.__name__}, {shown})"


# --------------------------------------------------------------------------- the runtime base


class _LockAttribute:
    """``s.lock``: the block's lock. Top-level proxies hold it in ``__dict__`` (found at C speed)."""

    def __get__(self, obj: Any, owner: type[Any] | None = None) -> Any:
        return self if obj is None else lock_of(obj)


class _SchemaAttribute:
    """``State.layout`` / ``State.dtype`` (on the class and its instances), unless a field of that
    name shadows it."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __get__(self, obj: Any, owner: type[Any] | None = None) -> Any:
        cls = type(obj) if owner is None else owner
        schema = compiled_schema(cls)
        if schema is None:
            raise AttributeError(f"{cls.__name__} declares no fields, so it has no {self.what}")
        return getattr(schema, self.what)


class SharedStruct(ctypes.Structure, metaclass=SchemaMeta):
    """Base class of schemas: subclass it and declare fields with type annotations.

    Each instance is a live proxy of one shared segment that holds every field, plus one
    re-entrant, crash-safe lock: ``with s.lock:`` makes several reads and writes one step for
    every other process. Scalars read and write as Python values with checked writes;
    ``text(n)`` fields read as ``str``; ``array(shape)`` fields read as zero-copy numpy views;
    ``nested()`` fields are proxies into the same segment.

    Instances pickle to a reference (the segment's name), so they can be handed to any process;
    ``shmstruct.attach(Schema, name)`` reaches the same segment from any process on the machine.
    ``shmstruct.close(s)`` (or a ``with`` block) ends this process's use of it; the last process to
    stop removes it.

    Every name but ``lock`` and ``_...`` is free for fields. The operations are functions of the
    ``shmstruct`` module (``attach``, ``options``, ``table``, ``log``, ``snapshot``, ``update``,
    ``segment_name``, ``close``, ``layout``), which work whatever the fields are called. The method
    spellings of earlier versions (``s.update(...)``, ``State.table(n)``...) still work at run time
    where no field shadows them; type checkers do not see them, so that a field may take their names.
    """

    if TYPE_CHECKING:  # no annotation at run time: typing.get_type_hints(Schema) sees the user's fields only
        _fields_: ClassVar[list[tuple[str, Any]]]
    _shm_root_ = True
    _fields_ = []
    lock = _LockAttribute()
    layout = _SchemaAttribute("layout")
    dtype = _SchemaAttribute("dtype")

    # The method spellings of earlier versions: each calls its function in shmstruct (which
    # documents it), so that there is one implementation.

    @classmethod
    def table(cls, rows: int, **options: Any) -> Any:
        """``shmstruct.table(Schema, rows, ...)``."""
        from . import _functions

        return _functions.table(cls, rows, **options)

    @classmethod
    def log(cls, capacity: int, **options: Any) -> Any:
        """``shmstruct.log(Schema, capacity, ...)``."""
        from . import _functions

        return _functions.log(cls, capacity, **options)

    @classmethod
    def options(cls, **options: Any) -> StructFactory:
        """``shmstruct.options(Schema, ...)``."""
        from . import _functions

        return _functions.options(cls, **options)

    @classmethod
    def attach(cls, name: str) -> Any:
        """``shmstruct.attach(Schema, name)``."""
        return attach_struct(cls, name)

    @property
    def name(self) -> str:
        """``shmstruct.segment_name(s)``: the name of the shared segment holding this struct."""
        return block_of(self).name

    def close(self) -> None:
        """``shmstruct.close(s)``: stop using the struct in this process. Idempotent."""
        block_of(self).close()

    def update(self, **values: Any) -> None:
        """``shmstruct.update(s, ...)``: write several fields at once, under the lock: all of them
        or, if any value is rejected, none."""
        update_struct(self, values)

    def snapshot(self) -> Any:
        """``shmstruct.snapshot(s)``: a consistent copy of every field, taken under the lock, as a
        frozen pydantic model."""
        return take_snapshot(self)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        block_of(self).close()

    def __reduce__(self) -> tuple[Any, ...]:
        block = block_of(self)
        return reference_to(block, What.STRUCT, type(self), block.offset_of(self))

    def __copy__(self) -> Any:
        raise TypeError(
            f"{type(self).__name__} is a view of shared memory; use shmstruct.snapshot() for a private copy"
        )

    def __deepcopy__(self, memo: Any) -> Any:
        return self.__copy__()

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete {type(self).__name__}.{name}: fields always hold a value")

    def __repr__(self) -> str:
        schema = schema_of(type(self))
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in schema.ops)
        return f"{schema.name}({shown})"


def update_struct(obj: Any, values: Mapping[str, Any]) -> None:
    """Write several fields of a struct at once, under its lock: all of them or none.

    Raises:
        FieldTypeError: An unknown field, or a value of the wrong type.
        FieldValueError: A value out of range or against a constraint.
    """
    writes = schema_of(type(obj)).prepare(values, partial=True)
    with lock_of(obj):
        for store, prepared in writes:
            store(obj, prepared)


def take_snapshot(obj: Any) -> Any:
    """Copy a struct's bytes under its lock (one ``memcpy``) and build its snapshot model from the
    private copy outside the lock, so other processes wait only for the copy."""
    import numpy as np

    schema = schema_of(type(obj))
    raw = locked_bytes(obj, schema.size)
    record = np.frombuffer(raw, dtype=schema.dtype)[0]
    return schema.record_to_model(record)
