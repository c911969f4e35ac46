"""Small frozen records without :mod:`dataclasses`.

``dataclasses`` imports ``inspect`` (with ``ast``, ``dis`` and ``tokenize``): about a third of
what a bare spawned child costs to start. A process that receives a struct imports shmstruct, so
shmstruct's own records are made here instead: fields from the class annotations (in order, parent
fields first), defaults from the class attributes, keyword or positional construction, frozen
attributes, equality, hashing, a repr and :meth:`Record.replace`. Type checkers see them as frozen
dataclasses (PEP 681).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is for type checkers only: importing it costs a spawned child ~5 ms
if TYPE_CHECKING:
    from typing import Any, ClassVar

    from typing_extensions import Self, dataclass_transform
else:

    def dataclass_transform(**_: Any) -> Any:
        return lambda cls: cls


__all__ = ["Record"]

_NO_DEFAULT = object()


@dataclass_transform(frozen_default=True)
class Record:
    """Base class of a frozen record: subclass it and annotate the fields."""

    if TYPE_CHECKING:  # not annotations at run time, where ClassVar and Any are not imported
        __record_fields__: ClassVar[tuple[str, ...]]
        __record_defaults__: ClassVar[dict[str, Any]]
    __record_fields__ = ()
    __record_defaults__ = {}  # noqa: RUF012 (a ClassVar, declared to checkers above)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names = list(cls.__record_fields__)
        defaults = dict(cls.__record_defaults__)
        # The class's own annotations, as strings (every module defining records uses
        # ``from __future__ import annotations``); inspect is what this module avoids importing.
        for name, annotation in cls.__dict__.get("__annotations__", {}).items():  # noqa: RUF063
            if "ClassVar" in str(annotation) or name in names:
                continue
            names.append(name)
            if name in cls.__dict__:
                defaults[name] = cls.__dict__[name]
                delattr(cls, name)  # the instance holds the value; the default lives in the record
        cls.__record_fields__ = tuple(names)
        cls.__record_defaults__ = defaults

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        names = self.__record_fields__
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__}() takes at most {len(names)} arguments, got {len(args)}")
        values = dict(zip(names, args, strict=False))
        for name, value in kwargs.items():
            if name not in names or name in values:
                raise TypeError(f"{type(self).__name__}() got an unexpected or repeated argument {name!r}")
            values[name] = value
        defaults = self.__record_defaults__
        for name in names:
            value = values.get(name, defaults.get(name, _NO_DEFAULT))
            if value is _NO_DEFAULT:
                raise TypeError(f"{type(self).__name__}() is missing the argument {name!r}")
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot delete {name!r}")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__record_fields__)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__record_fields__)
        return f"{type(self).__name__}({shown})"

    def replace(self, **changes: Any) -> Self:
        """A copy with some fields changed."""
        values = {name: getattr(self, name) for name in self.__record_fields__}
        values.update(changes)
        return type(self)(**values)
