"""Atomic integer fields: ``hits: Atomic[int] = atomic()``.

The type lives in the C extension (:mod:`shmstruct._native`), so that ``s.hits.add(1)`` is one
C call on the object the field's descriptor caches; its typing (a generic descriptor whose
``__set__`` takes an ``int``) is in ``_native.pyi``.
"""

from __future__ import annotations

from ._native import Atomic

__all__ = ["Atomic"]
