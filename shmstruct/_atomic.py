"""Atomic integer fields: ``hits: Atomic[int] = atomic()``.

Reading the field gives an :class:`Atomic` over the shared address: every operation on it is one
sequentially consistent atomic instruction of the C extension (:mod:`shmstruct._native`), taken
without the block's lock. For the type checker, ``Atomic`` is also a descriptor whose ``__set__``
takes an ``int``, so ``s.hits = 5`` and ``State(hits=5)`` type-check as checked atomic stores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from typing_extensions import Self

from . import _native

__all__ = ["Atomic"]

T = TypeVar("T", bound=int)


class Atomic(_native.AtomicInt, Generic[T]):
    """A lock-free integer field: declare it ``hits: Atomic[int] = atomic()`` (``int64``), or
    ``Atomic[shmstruct.uint32]`` (also ``int32``, ``uint64``).

    ``s.hits`` reads as this object, bound to the shared value:

    * ``load()``, ``store(v)``, ``int(s.hits)``, and ``s.hits == 3`` (comparisons read the value);
    * ``add(n)`` and ``sub(n)`` return the previous value, like C's ``fetch_add``;
    * ``exchange(v)`` returns the previous value; ``compare_exchange(expected, new)`` returns
      whether the value was ``expected`` (and is now ``new``);
    * ``wait(old, timeout=None)`` sleeps until the value differs from ``old`` (``True``) or the
      timeout passes (``False``); every atomic write above wakes it, and ``notify_all()`` wakes it
      after a change made another way (through a numpy view, say).

    Every write is range-checked: one that would leave the C type's range raises
    :class:`~shmstruct.FieldValueError` and changes nothing. No operation takes the block's lock.
    """

    __slots__ = ()

    if TYPE_CHECKING:

        @overload
        def __get__(self, obj: None, owner: Any) -> Self: ...
        @overload
        def __get__(self, obj: object, owner: Any) -> Self: ...
        def __get__(self, obj: object, owner: Any) -> Self: ...
        def __set__(self, obj: object, value: int) -> None: ...
