# The typing facade of shmstruct: what mypy, pyright and editors see of the public API.
#
# The run-time package builds schema classes with a metaclass that a type checker cannot follow;
# this file states the resulting types instead (as msgspec's __init__.pyi does). A schema class is
# a dataclass-like class (PEP 681), so `State(steps=1)` and `s.steps = 2` are checked against the
# annotations. Only `lock` is declared on SharedStruct: every other name belongs to the user's
# fields, and the operations are the module-level functions below. tests/typechecking checks this
# file against real snippets with mypy and pyright.

from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Generic, overload

import numpy as np
from numpy.typing import DTypeLike, NDArray
from pydantic import BaseModel
from typing_extensions import Self, dataclass_transform

from ._aliases import float16 as float16
from ._aliases import float32 as float32
from ._aliases import float64 as float64
from ._aliases import int8 as int8
from ._aliases import int16 as int16
from ._aliases import int32 as int32
from ._aliases import int64 as int64
from ._aliases import uint8 as uint8
from ._aliases import uint16 as uint16
from ._aliases import uint32 as uint32
from ._aliases import uint64 as uint64
from ._errors import DeadHolderWarning as DeadHolderWarning
from ._errors import FieldTypeError as FieldTypeError
from ._errors import FieldValueError as FieldValueError
from ._errors import LogFullError as LogFullError
from ._errors import SchemaError as SchemaError
from ._errors import SchemaMismatchError as SchemaMismatchError
from ._errors import SegmentError as SegmentError
from ._errors import SegmentExistsError as SegmentExistsError
from ._errors import SegmentNameError as SegmentNameError
from ._errors import SharedMemoryFullError as SharedMemoryFullError
from ._errors import SharedMemoryGoneError as SharedMemoryGoneError
from ._errors import ShmStructError as ShmStructError
from ._kinds import MISSING as MISSING
from ._kinds import Field as Field
from ._layout import Layout as Layout
from ._lock import SharedLock as SharedLock
from ._native import Atomic as Atomic
from ._types import TYPE_CODES as TYPE_CODES
from ._types import c_float16 as c_float16
from ._typevars import Fields, OtherSchema, Params, Schema, Value

__version__: str
HANDOFF_GRACE: float
MAX_NAME_LENGTH: int

@dataclass_transform(kw_only_default=True)
class SharedStruct:
    """Base class of schemas: subclass it and declare fields with type annotations."""

    _fields_: ClassVar[list[tuple[str, Any]]]
    @property
    def lock(self) -> SharedLock:
        """The re-entrant lock shared by every process that uses this struct."""

    def __enter__(self) -> Self: ...
    def __exit__(self, *exc_info: object) -> None: ...

# ---------------------------------------------------------------------------- field specifiers

def text(max_bytes: int, default: str = "") -> str:
    """Declare a text field holding at most ``max_bytes`` bytes of UTF-8: ``label: str = text(16)``."""

def array(shape: int | tuple[int, ...], dtype: DTypeLike | None = None) -> NDArray[Any]:
    """Declare a fixed-shape array field: ``grid: NDArray[np.float64] = array((64, 64))``."""

@overload
def nested(schema: type[Value], /, **overrides: Any) -> Value: ...
@overload
def nested(**overrides: Any) -> Any: ...
def atomic(default: int = 0) -> Any:
    """Declare the default of an atomic integer field: ``hits: Atomic[int] = atomic()``."""

# ---------------------------------------------------------------------------- operations

def attach(schema: type[Schema], name: str) -> Schema:
    """A live proxy to the struct of ``schema`` in segment ``name``, from any process."""

def options(
    schema: Callable[Params, Schema],
    *,
    name: str | None = None,
    keep: bool = False,
    mode: int = 0o600,
    reserve: bool = True,
) -> Callable[Params, Schema]:
    """A constructor of ``schema`` structs with a chosen segment name, lifetime or permissions."""

def table(
    schema: type[Schema],
    rows: int,
    *,
    name: str | None = None,
    keep: bool = False,
    mode: int = 0o600,
    reserve: bool = True,
) -> Table[Schema]:
    """A shared table of ``rows`` records of ``schema``, each starting with the defaults."""

def log(
    schema: Callable[Params, Schema],
    capacity: int,
    *,
    ring: bool = False,
    name: str | None = None,
    keep: bool = False,
    mode: int = 0o600,
    reserve: bool = True,
) -> Log[Schema, Params]:
    """An empty shared append-only log with room for ``capacity`` records of ``schema``."""

@overload
def snapshot(obj: Table[Any]) -> NDArray[np.void]: ...
@overload
def snapshot(obj: SharedStruct) -> Any: ...
def update(struct: SharedStruct, /, **values: Any) -> None:
    """Write several fields at once, under the lock: all of them or none."""

def segment_name(obj: SharedStruct | Table[Any]) -> str:
    """The name of the shared segment holding a struct, table or log."""

def close(obj: SharedStruct | Table[Any]) -> None:
    """Stop using a struct, table or log in this process. Idempotent."""

def fields(schema: type[SharedStruct]) -> tuple[Field, ...]:
    """The fields of a schema class, parent fields first."""

def layout(schema: type[SharedStruct]) -> Layout:
    """Where every field of a schema lives."""

def snapshot_model(schema: type[SharedStruct]) -> type[BaseModel]:
    """The frozen pydantic model class of ``schema``'s snapshots."""

def unlink(name: str, force: bool = True) -> None:
    """Remove shared segment ``name`` now (processes that have it mapped keep working)."""

# ---------------------------------------------------------------------------- tables and logs

class Table(Generic[Schema]):
    """A fixed number of records of one schema, in one shared block, guarded by one lock.

    ``table[i]`` is a live, checked proxy of row ``i`` (negative indexes count from the end);
    ``table[a:b]`` is a table of those rows that shares their memory; ``records`` and
    ``column(name)`` are zero-copy numpy views. Writes through numpy views are not checked.

    Tables pickle by reference: a table (or a slice of one) handed to another process writes into
    the same memory.
    """

    @property
    def schema(self) -> type[Schema]:
        """The schema class of the rows."""
    @property
    def lock(self) -> SharedLock:
        """The one re-entrant lock of the whole table, shared by every row proxy and process."""
    @property
    def records(self) -> NDArray[np.void]:
        """A zero-copy numpy structured view of the rows (``dtype == shmstruct.layout(schema).dtype``)."""
    @property
    def name(self) -> str:
        """The name of the shared segment holding the rows (what ``attach`` takes)."""
    def column(self, name: str) -> NDArray[Any]:
        """A zero-copy view of one field: shape ``(n,)`` for scalars, ``(n, *shape)`` for arrays.

        Raises:
            KeyError: No such field; the message lists the fields.
        """
    def __len__(self) -> int: ...
    @overload
    def __getitem__(self, index: int) -> Schema: ...
    @overload
    def __getitem__(self, index: slice) -> Table[Schema]: ...
    def __iter__(self) -> Iterator[Schema]: ...
    def snapshot(self) -> NDArray[np.void]:
        """A private numpy copy of the rows, taken under the lock (one consistent moment)."""
    def models(self) -> list[Any]:
        """The rows as frozen pydantic models (see ``shmstruct.snapshot_model``), copied under the lock.

        One Python object per row and field: meant for small tables, reports and JSON.
        """
    @classmethod
    def attach(cls, name: str, schema: type[OtherSchema]) -> Table[OtherSchema]:
        """A live view of the table of ``schema`` rows in segment ``name``, from any process.

        Raises:
            SharedMemoryGoneError: No segment of that name exists (any more).
            SchemaMismatchError: The segment holds another schema, or another version of this one.
            SegmentError: The segment is not a shmstruct table (a struct or a log, say).
        """
    def close(self) -> None:
        """Stop using the table in this process (see the lifecycle in the README). Idempotent."""
    def __enter__(self) -> Self: ...
    def __exit__(self, *exc_info: object) -> None: ...

class Log(Table[Schema], Generic[Schema, Fields]):
    """A bounded append-only table: ``append(**fields)`` adds a checked row under the lock.

    ``len(log)``, ``records``, ``column()``, iteration and indexing cover the appended rows only.
    Every append notifies the log's lock, so a consumer can sleep until new rows arrive:
    ``with log.lock: log.lock.wait_for(lambda: len(log) > seen)``.
    A full log raises ``LogFullError``, unless it was created with ``ring=True``:
    then each append past ``capacity`` overwrites the oldest row, ``records`` holds the rows in
    slot order (slot = number of earlier appends modulo ``capacity``) and ``snapshot()`` returns
    them oldest first.
    """

    @property
    def capacity(self) -> int:
        """The most rows the log holds."""
    @property
    def ring(self) -> bool:
        """Whether appends past ``capacity`` overwrite the oldest rows (chosen at creation)."""
    @property
    def appended(self) -> int:
        """How many appends have finished since creation (for a ring, more than ``capacity``)."""
    def append(self, *args: Fields.args, **kwargs: Fields.kwargs) -> int:
        """Add one row: the schema's defaults updated with the given fields, checked first.

        Returns:
            The new row's index in ``records`` (its slot, for a ring).

        Raises:
            FieldTypeError: An unknown or missing field, or a value of the wrong type.
            FieldValueError: A value out of range or against a constraint.
            LogFullError: The log holds ``capacity`` rows and is not a ring.

        A rejected append adds no row.
        """
    @classmethod
    def attach(cls, name: str, schema: Callable[Params, OtherSchema]) -> Log[OtherSchema, Params]:
        """A live view of the log of ``schema`` rows in segment ``name``, from any process.

        Raises:
            SharedMemoryGoneError: No segment of that name exists (any more).
            SchemaMismatchError: The segment holds another schema, or another version of this one.
            SegmentError: The segment is not a shmstruct log.
        """
