"""What every field kind shares: the :class:`Field` base class, a declaration being resolved, and
the pieces of annotation parsing and checking that more than one kind uses.

A kind is a subclass of :class:`Field`. The class resolves declarations (``resolve``) and reads
the header's description of its fields (``entry_dtype``, ``decode``); an instance is one field of
one schema and owns its checks, its storage, its attribute and its description.
"""

from __future__ import annotations

import ctypes
import functools
import math
import operator
import sys

from .._errors import FieldValueError, SchemaError, short_repr
from .._record import Record
from .._types import TYPE_CODES, ScalarType, scalar_type_of

TYPE_CHECKING = False  # typing is for type checkers only: importing it costs a spawned child ~5 ms
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any, ClassVar, Final, TypeAlias

    Preparer: TypeAlias = Callable[[Any], Any]
    Store: TypeAlias = Callable[[Any, Any], None]

__all__ = [
    "MISSING",
    "Declaration",
    "Field",
    "Preparer",
    "Store",
    "annotated",
    "annotated_if",
    "compiled_schema",
    "is_bool",
    "json_number",
    "typing_if_imported",
]


class _Missing:
    """The type of :data:`MISSING`: one instance, which copies and pickles as itself. (Not an
    Enum: making an Enum class costs every process that imports shmstruct about 0.1 ms.)"""

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self) -> str:
        return "MISSING"  # pickle (and copy) find the module's one instance by name


#: The default of a field the constructor must be given.
MISSING: Final[_Missing] = _Missing()


#: How JSON, which has no numbers for them, shows not-a-number and the infinities.
_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def json_number(value: Any) -> Any:
    """``value`` (any decoded value; a list of them for an array) as JSON holds it: a float that
    is not finite becomes the string ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else _NON_FINITE[repr(value)]
    if isinstance(value, list):
        return [json_number(element) for element in value]
    return value


def annotated(base: Any, metadata: tuple[Any, ...]) -> Any:
    """``Annotated[base, *metadata]``, spelled so that Python 3.10 accepts it."""
    from typing import Annotated

    return operator.getitem(Annotated, (base, *metadata))


def typing_if_imported() -> Any:
    """The :mod:`typing` module if something imported it, else ``None``.

    An annotation made with typing (``Annotated``, ``ClassVar``, ``Optional``) exists only once
    typing is imported, so looking for one never needs to import it; shmstruct does not, because
    that costs a spawned child about 5 ms.
    """
    return sys.modules.get("typing")


def annotated_if(python_type: type, constraints: tuple[Any, ...]) -> Any:
    """``python_type``, or ``Annotated[python_type, *constraints]`` when there are constraints."""
    return annotated(python_type, constraints) if constraints else python_type


def is_bool(value: Any) -> bool:
    """Whether ``value`` is a Python or numpy bool (numpy is not imported for this)."""
    if isinstance(value, bool):
        return True
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(value, numpy.bool_)


def compiled_schema(candidate: Any) -> Any:
    """The compiled schema of a schema class (``__shm_schema__``), or ``None`` for anything else."""
    if not isinstance(candidate, type):
        return None
    return candidate.__dict__.get("__shm_schema__")


def split_annotated(annotation: Any) -> tuple[Any, list[Any]]:
    typing = typing_if_imported()
    if typing is not None and typing.get_origin(annotation) is typing.Annotated:
        base, *metadata = typing.get_args(annotation)
        inner_base, inner_meta = split_annotated(base)
        return inner_base, inner_meta + list(metadata)
    return annotation, []


def is_ctypes_class(obj: Any) -> bool:
    """Whether ``obj`` is a ctypes type (scalar, pointer, array or structure)."""
    return isinstance(obj, type) and issubclass(
        obj, (ctypes._SimpleCData, ctypes._Pointer, ctypes.Array, ctypes.Structure)
    )


def ctypes_rejection(ctype: type[Any]) -> str:
    """Why a ctypes class cannot be a field's storage, and what to write instead."""
    if ctype in (ctypes.c_char_p, ctypes.c_wchar_p, ctypes.c_void_p) or issubclass(ctype, ctypes._Pointer):
        return (
            f"{ctype.__name__} is a pointer, which means nothing in another process; "
            "use text(n) for strings or array(shape) for numbers"
        )
    if ctype is ctypes.c_longdouble:
        return "c_longdouble is not supported (not stored atomically, no portable numpy type); use float"
    if issubclass(ctype, (ctypes.Array, ctypes.Structure)):
        return (
            f"{ctype.__name__} is a ctypes aggregate; use array(shape) for arrays and a nested SharedStruct for structs"
        )
    return (
        f"{ctype.__name__} is not a supported scalar type (byte-swapped or custom ctypes subclasses are not "
        "supported); use one of c_bool, c_char, c_wchar, c_byte, c_ubyte, c_short, c_ushort, c_int, c_uint, "
        "c_long, c_ulong, c_longlong, c_ulonglong, c_float, c_double or a sized alias such as c_int8"
    )


class Declaration(Record):
    """One ``name: annotation = default`` line of a schema, its ``Annotated`` metadata split into
    the storage type (a ctypes class or a type code) and the user constraints.

    Attributes:
        owner: The declaring class's name, for messages.
        name: The field name.
        annotation: The annotation as written (resolved).
        base: The annotation without ``Annotated``.
        storage: The scalar type row named in the metadata, if any.
        constraints: The other metadata (pydantic ``Field``, annotated-types).
        default: The value after ``=``, a spec, or ``MISSING``.
    """

    owner: str
    name: str
    annotation: Any
    base: Any
    storage: ScalarType | None
    constraints: tuple[Any, ...]
    default: Any

    @classmethod
    def parse(cls, owner: str, name: str, annotation: Any, default: Any) -> Declaration:
        """Split the annotation of one declaration.

        Raises:
            SchemaError: An unknown type code, an unsupported ctypes class, or two storage types.
        """
        base, metadata = split_annotated(annotation)
        storage, constraints = storage_from_metadata(owner, name, metadata)
        return cls(owner, name, annotation, base, storage, tuple(constraints), default)

    def fail(self, what: str) -> SchemaError:
        """The error for this declaration: ``Owner.name: what``."""
        return SchemaError(f"{self.owner}.{self.name}: {what}")


def storage_from_metadata(owner: str, name: str, metadata: list[Any]) -> tuple[ScalarType | None, list[Any]]:
    """Split ``Annotated`` metadata into the one storage type (ctypes class or type code) and the constraints."""
    storage: list[ScalarType] = []
    constraints: list[Any] = []
    for item in metadata:
        if isinstance(item, str):
            ctype = TYPE_CODES.get(item)
            if ctype is None:
                known = " ".join(TYPE_CODES)
                raise SchemaError(f"{owner}.{name}: unknown type code {item!r}; known codes: {known}")
            row = scalar_type_of(ctype)
            if row is None:
                raise SchemaError(f"{owner}.{name}: type code {item!r} is not supported on this platform")
            storage.append(row)
        elif is_ctypes_class(item):
            row = scalar_type_of(item)
            if row is None:
                raise SchemaError(f"{owner}.{name}: {ctypes_rejection(item)}")
            storage.append(row)
        else:
            constraints.append(item)
    if len(storage) > 1:
        raise SchemaError(f"{owner}.{name}: give one storage type in Annotated[...], not several")
    return (storage[0] if storage else None), constraints


class Field(Record):
    """One field of a schema, as ``shmstruct.fields(State)`` returns it.

    Each kind of field is a subclass (scalar, atomic, text, array, nested) that owns everything
    about its kind: how a declaration becomes the field, how a value is checked and stored, how it
    is read, how the header describes it, and how snapshots and the command line decode it.

    Attributes:
        name: The attribute name.
        owner: The name of the class that declared it (used in messages as ``Owner.name``).
        annotation: The annotation as written.
        ctype: The ctypes type stored in the block.
        c_decl: The C declaration shown in layout tables, e.g. ``int8_t`` or ``double[4][3]``.
        default: The initial value, or ``MISSING`` when the constructor must be given one (for arrays,
            the ``array`` spec: arrays start zero-filled; for nested fields, the ``nested`` spec).
        scalar: The scalar type row (scalars, and the element type of arrays).
        shape: The array shape (``()`` for other kinds).
        max_bytes: The capacity of a text field in UTF-8 bytes.
        schema: The nested schema class.
        constraints: User constraints from ``Annotated`` (pydantic ``Field``, annotated-types).
        offset: Byte offset from the start of the struct.
        size: Size in bytes.
        kind: ``"scalar"``, ``"atomic"``, ``"text"``, ``"array"`` or ``"nested"`` (the class's).
    """

    kind: ClassVar[str]
    #: Whether writes take the block's lock (values wider than one machine word).
    locked: ClassVar[bool] = True

    name: str
    owner: str
    annotation: Any
    ctype: type[Any]
    c_decl: str
    default: Any = MISSING
    scalar: ScalarType | None = None
    shape: tuple[int, ...] = ()
    max_bytes: int | None = None
    schema: type[Any] | None = None
    constraints: tuple[Any, ...] = ()
    offset: int = -1
    size: int = 0

    @property
    def qualname(self) -> str:
        """``Owner.name``, as every error message spells the field."""
        return f"{self.owner}.{self.name}"

    @property
    def required(self) -> bool:
        """Whether the constructor must be given a value for this field."""
        return self.default is MISSING

    @property
    def row(self) -> ScalarType:
        """The scalar type row of a scalar, or of an array's elements.

        Raises:
            TypeError: The field's kind has no scalar type (text, nested).
        """
        if self.scalar is None:
            raise TypeError(f"{self.qualname} is a {self.kind} field: it has no scalar type")
        return self.scalar

    @property
    def atomic(self) -> bool:
        """Whether the field is an ``Atomic`` integer."""
        return False

    @functools.cached_property
    def dtype(self) -> Any:
        """The numpy dtype of the stored value (a sub-array dtype for arrays; imports numpy)."""
        return self.entry_dtype(self.describe())

    @functools.cached_property
    def checks(self) -> Preparer:
        """The field's write checks (:meth:`preparer`), made once."""
        return self.preparer()

    # ---------------------------------------------------------------- declaring

    @classmethod
    def resolve(cls, declaration: Declaration) -> Field | None:
        """The field a declaration makes, if it is of this kind; ``None`` if it is not.

        Raises:
            SchemaError: The declaration is of this kind but cannot be laid out.
        """
        raise NotImplementedError

    # ---------------------------------------------------------------- writing and reading

    def preparer(self) -> Preparer:
        """The checks of a write: returns exactly what ``store`` stores, or raises
        ``FieldTypeError`` / ``FieldValueError`` naming the field, the value and what is allowed."""
        raise NotImplementedError

    def storer(self, cfield: Any) -> Store:
        """Stores a prepared value into a proxy (the block's lock is held when ``locked``);
        ``cfield`` is ctypes' field descriptor."""
        offset, size = self.offset, self.size

        def store(obj: Any, data: Any) -> None:
            source = data if isinstance(data, bytes) else data.ctypes.data
            ctypes.memmove(ctypes.addressof(obj) + offset, source, size)

        return store

    def attribute(self, cfield: Any) -> Any:
        """The class attribute that reads the field, or ``None`` when ctypes' own field
        descriptor (``cfield``) does."""
        return None

    def fast_write(self, cfield: Any, store: Store) -> tuple[Any, Any, Any, type] | None:
        """What the C fast path of ``__setattr__`` needs to store an exact Python value within
        range without calling back into Python: (target, low, high, type); ``None``: no fast path."""
        return None

    def default_write(self) -> Any:
        """The value the defaults image stores, or ``MISSING`` when the zero bytes are the default."""
        return self.default

    # ---------------------------------------------------------------- describing and decoding

    def describe(self) -> dict[str, Any]:
        """The field's entry in the header's schema description (JSON data)."""
        return {"name": self.name, "kind": self.kind, "c": self.c_decl, "offset": self.offset, "size": self.size}

    @classmethod
    def entry_dtype(cls, entry: dict[str, Any]) -> Any:
        """The numpy dtype of a field from its description entry."""
        raise NotImplementedError

    @classmethod
    def item(cls, record: Any, entry: dict[str, Any]) -> Any:
        """The field's part of one numpy record (a numpy scalar, array or record), for ``decode``."""
        return record[entry["name"]]

    @classmethod
    def decode(cls, item: Any, entry: dict[str, Any], for_json: bool) -> Any:
        """The value of one field of a numpy record (``item``), from its description entry:
        Python values for snapshots, JSON-ready ones (``for_json``) for the command line."""
        value = item.item()
        if for_json:
            if isinstance(value, bytes):
                return value.decode("latin-1")
            return json_number(value)
        return value

    @classmethod
    def members(cls, entry: dict[str, Any]) -> dict[str, Any] | None:
        """The description of the struct the field holds in place, or None (not a nested struct)."""
        return None

    def model_type(self) -> Any:
        """The type of the field in the schema's snapshot model (pydantic)."""
        raise NotImplementedError

    def model_value(self, decoded: Any) -> Any:
        """A decoded value as the snapshot model holds it."""
        return decoded

    # ---------------------------------------------------------------- hash entries (remote stores)

    def hash_keys(self, prefix: str = "") -> list[str]:
        """The keys of the field's entries in a remote store's hash (``shmstruct.redis``)."""
        return [prefix + self.name]

    def to_hash(self, base: int, prefix: str, out: dict[str, bytes]) -> None:
        """Put the value stored in the struct at address ``base`` into ``out`` as hash entries
        (this default: the C bytes, as array fields store them)."""
        out[prefix + self.name] = ctypes.string_at(base + self.offset, self.size)

    def from_hash(self, entries: Mapping[str, bytes | None], prefix: str = "") -> Any:
        """The value the hash ``entries`` hold for the field, as a snapshot holds it.

        Raises:
            ValueError: An entry is missing or is not a value of the field (the message says which).
        """
        raise NotImplementedError

    def hash_entry(self, entries: Mapping[str, bytes | None], prefix: str) -> bytes:
        """The field's one entry of ``entries``.

        Raises:
            ValueError: It is missing.
        """
        raw = entries.get(prefix + self.name)
        if raw is None:
            raise ValueError(f"field {prefix + self.name!r} is missing")
        return raw

    # ---------------------------------------------------------------- user constraints

    def with_constraints(self, prepare: Preparer, python_type: type, check_stored: bool) -> Preparer:
        """Add the field's user constraints (pydantic ``Field``, annotated-types) after ``prepare``;
        they see the stored value (``check_stored``) or the value as given."""
        if not self.constraints:
            return prepare
        from pydantic import TypeAdapter, ValidationError  # imported only by schemas with constraints

        adapter: TypeAdapter[Any] = TypeAdapter(annotated(python_type, self.constraints))
        qualname = self.qualname

        def prepare_constrained(value: Any) -> Any:
            stored = prepare(value)
            try:
                adapter.validate_python(stored if check_stored else value, strict=True)
            except ValidationError as exc:
                reasons = "; ".join(error["msg"] for error in exc.errors())
                raise FieldValueError(f"{qualname}: {short_repr(value)} is not allowed: {reasons}") from exc
            return stored

        return prepare_constrained
