# The typing facade of shmstruct: what mypy, pyright and editors see of the public API.
#
# The run-time package builds schema classes with a metaclass that a type checker cannot follow;
# this file states the resulting types instead (as msgspec's __init__.pyi does). A schema class is
# a dataclass-like class (PEP 681), so `State(steps=1)` and `s.steps = 2` are checked against the
# annotations. Only `lock` is declared on SharedStruct: every other name belongs to the user's
# fields, and the operations are the module-level functions below. tests/typechecking checks this
# file against real snippets with mypy and pyright.

from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Generic, TypeVar, overload

import numpy as np
from numpy.typing import DTypeLike, NDArray
from pydantic import BaseModel
from typing_extensions import ParamSpec, Self, dataclass_transform

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

__version__: str
HANDOFF_GRACE: float
MAX_NAME_LENGTH: int

_S = TypeVar("_S", bound=SharedStruct)
_T = TypeVar("_T", bound=SharedStruct)
_U = TypeVar("_U")
_P = ParamSpec("_P", default=...)
_Q = ParamSpec("_Q")

_Records = NDArray[np.void]

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
def nested(schema: type[_U], /, **overrides: Any) -> _U: ...
@overload
def nested(**overrides: Any) -> Any: ...
def atomic(default: int = 0) -> Any:
    """Declare the default of an atomic integer field: ``hits: Atomic[int] = atomic()``."""

# ---------------------------------------------------------------------------- operations

def attach(schema: type[_S], name: str) -> _S:
    """A live proxy to the struct of ``schema`` in segment ``name``, from any process."""

def options(
    schema: Callable[_Q, _S], *, name: str | None = None, keep: bool = False, mode: int = 0o600, reserve: bool = True
) -> Callable[_Q, _S]:
    """A constructor of ``schema`` structs with a chosen segment name, lifetime or permissions."""

def table(
    schema: type[_S], rows: int, *, name: str | None = None, keep: bool = False, mode: int = 0o600, reserve: bool = True
) -> Table[_S]:
    """A shared table of ``rows`` records of ``schema``, each starting with the defaults."""

def log(
    schema: Callable[_Q, _S],
    capacity: int,
    *,
    ring: bool = False,
    name: str | None = None,
    keep: bool = False,
    mode: int = 0o600,
    reserve: bool = True,
) -> Log[_S, _Q]:
    """An empty shared append-only log with room for ``capacity`` records of ``schema``."""

@overload
def snapshot(obj: Table[Any]) -> _Records: ...
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

class Table(Generic[_S]):
    """A fixed number of records of one schema, in one shared block, guarded by one lock."""

    @property
    def schema(self) -> type[_S]: ...
    @property
    def lock(self) -> SharedLock: ...
    @property
    def records(self) -> _Records: ...
    @property
    def name(self) -> str: ...
    def column(self, name: str) -> NDArray[Any]: ...
    def __len__(self) -> int: ...
    @overload
    def __getitem__(self, index: int) -> _S: ...
    @overload
    def __getitem__(self, index: slice) -> Table[_S]: ...
    def __iter__(self) -> Iterator[_S]: ...
    def snapshot(self) -> _Records: ...
    def models(self) -> list[Any]: ...
    @classmethod
    def attach(cls, name: str, schema: type[_T]) -> Table[_T]: ...
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *exc_info: object) -> None: ...

class Log(Table[_S], Generic[_S, _P]):
    """A bounded append-only table: ``append(**fields)`` adds a checked row under the lock."""

    @property
    def capacity(self) -> int: ...
    @property
    def ring(self) -> bool: ...
    @property
    def appended(self) -> int: ...
    def append(self, *args: _P.args, **kwargs: _P.kwargs) -> int: ...
    @classmethod
    def attach(cls, name: str, schema: Callable[_Q, _T]) -> Log[_T, _Q]: ...
