"""shmstruct: typed, declarative shared state between processes.

Declare a schema once; every instance is one block of shared memory laid out as a C struct, with
one shared re-entrant lock, numpy views over array fields, checked writes and typed attributes,
and it can be handed to child processes under every start method::

    class State(SharedStruct):
        steps: int = 0
        level: shmstruct.int8 = 0
        label: str = text(16)
        grid: NDArray[np.float64] = array((64, 64))
        hits: Atomic[int] = atomic()

The types a checker sees are in ``__init__.pyi``. Importing shmstruct imports neither numpy nor
pydantic (an array field or a snapshot does, when it is first used), nor :mod:`typing`: a spawned
child that is handed a struct imports shmstruct, and typing alone would cost it about 5 ms. The
sized aliases (``int8`` ...) and tables and logs, which need typing, load on first use.
"""

import importlib

from ._errors import (
    DeadHolderWarning,
    FieldTypeError,
    FieldValueError,
    LogFullError,
    SchemaError,
    SchemaMismatchError,
    SegmentError,
    SegmentExistsError,
    SegmentNameError,
    SharedMemoryFullError,
    SharedMemoryGoneError,
    ShmStructError,
)
from ._functions import (
    attach,
    close,
    fields,
    layout,
    log,
    options,
    segment_name,
    snapshot,
    snapshot_model,
    table,
    unlink,
    update,
)
from ._kinds import MISSING, Field
from ._layout import Layout
from ._lifecycle import HANDOFF_GRACE
from ._lock import SharedLock
from ._naming import MAX_NAME_LENGTH
from ._native import Atomic
from ._specs import array, atomic, nested, text
from ._struct import SharedStruct
from ._types import TYPE_CODES, c_float16

__version__ = "0.1.0"

# Public names whose module loads on first use (see the module docstring), and that module.
_LAZY = {
    **dict.fromkeys(("Log", "Table"), "._table"),
    **dict.fromkeys(
        ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"),
        "._aliases",
    ),
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'shmstruct' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "HANDOFF_GRACE",
    "MAX_NAME_LENGTH",
    "MISSING",
    "TYPE_CODES",
    "Atomic",
    "DeadHolderWarning",
    "Field",
    "FieldTypeError",
    "FieldValueError",
    "Layout",
    "Log",
    "LogFullError",
    "SchemaError",
    "SchemaMismatchError",
    "SegmentError",
    "SegmentExistsError",
    "SegmentNameError",
    "SharedLock",
    "SharedMemoryFullError",
    "SharedMemoryGoneError",
    "SharedStruct",
    "ShmStructError",
    "Table",
    "array",
    "atomic",
    "attach",
    "c_float16",
    "close",
    "fields",
    "float16",
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "layout",
    "log",
    "nested",
    "options",
    "segment_name",
    "snapshot",
    "snapshot_model",
    "table",
    "text",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "unlink",
    "update",
]


# Public classes carry the path they are imported by, as httpx's do: tracebacks and reprs then
# read ``shmstruct.FieldValueError``, not ``shmstruct._errors.FieldValueError``. Pickle looks a
# class up by module and qualified name, and each is this module's attribute under its own name,
# so pickled classes and exceptions still load (in any process that can import shmstruct). The
# extension's types (Atomic) are named shmstruct.X in C and cannot be changed here.
def _publish(name: str, value: object) -> None:
    if isinstance(value, type) and value.__qualname__ == name and value.__module__ != __name__:
        value.__module__ = __name__


for _name in __all__:
    if _name in globals():  # of the lazy names, Table and Log set their own (in _table)
        _publish(_name, globals()[_name])
del _name
