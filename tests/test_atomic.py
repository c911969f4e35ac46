"""Atomic integer fields: lock-free and exact across processes, range-checked, waitable, and plain
integer columns in tables and logs."""

from __future__ import annotations

import pickle
from multiprocessing.context import BaseContext
from typing import Annotated

import numpy as np
import pytest
from helpers import JOIN_TIMEOUT, finish
from pydantic import Field
from sync_helpers import Claim, Hits, add_many, claim_tickets, wait_for_change

import shmstruct
from shmstruct import Atomic, FieldTypeError, FieldValueError, SchemaError, SharedStruct, atomic

PROCESSES = 4


def test_four_processes_adding_without_the_lock_end_exact(ctx: BaseContext) -> None:
    h = Hits()
    go = ctx.Event()
    children = [ctx.Process(target=add_many, args=(h, 100_000, go)) for _ in range(PROCESSES)]
    for child in children:
        child.start()
    go.set()
    for child in children:
        finish(child)
    assert h.total.load() == PROCESSES * 100_000
    assert h.lock.holder is None and h.lock.recoveries == 0  # nobody took the lock


def test_compare_exchange_claims_every_ticket_exactly_once(ctx: BaseContext) -> None:
    tickets = 10_000
    h = Hits()
    claims = Claim.table(tickets)
    go, results = ctx.Event(), ctx.Queue()
    children = [ctx.Process(target=claim_tickets, args=(h, claims, w, tickets, go, results)) for w in range(PROCESSES)]
    for child in children:
        child.start()
    go.set()
    got = [results.get(timeout=JOIN_TIMEOUT) for _ in children]
    for child in children:
        finish(child)
    assert sum(got) == tickets
    assert (claims.column("claims") == 1).all()
    assert set(np.unique(claims.column("owner")).tolist()) <= set(range(PROCESSES))
    assert h.next_ticket.load() == tickets


def test_operations_return_the_previous_value() -> None:
    h = Hits(total=10)
    total = h.total
    assert isinstance(total, Atomic)
    assert total.load() == 10 and int(total) == 10 and total == 10 and total != 11 and total < 11
    assert total.add(5) == 10 and total.load() == 15
    assert total.sub(20) == 15 and total.load() == -5
    assert total.exchange(7) == -5 and total.load() == 7
    assert total.compare_exchange(7, 8) is True and total.load() == 8
    assert total.compare_exchange(7, 9) is False and total.load() == 8
    total.store(3)
    assert h.total.load() == 3 and repr(h.total) == "Atomic(3)"
    assert [0, 1, 2, 3][h.total] == 3  # an index, like an int
    h.total = 4
    h.update(total=5, small=6)
    assert (h.total.load(), h.small.load()) == (5, 6)
    assert h.snapshot().total == 5 and h.snapshot().model_dump()["small"] == 6


@pytest.mark.parametrize(
    ("field", "low", "high"),
    [("total", -(2**63), 2**63 - 1), ("small", 0, 2**32 - 1), ("signed", -(2**31), 2**31 - 1), ("big", 0, 2**64 - 1)],
)
def test_range_errors_leave_the_value_unchanged(field: str, low: int, high: int) -> None:
    h = Hits()
    value = getattr(h, field)
    value.store(high)
    with pytest.raises(FieldValueError, match=rf"Hits.{field}: adding 1 to {high} would leave the range"):
        value.add(1)
    assert value.load() == high
    with pytest.raises(FieldValueError, match="would leave the range"):
        value.sub(-1)
    value.store(low)
    with pytest.raises(FieldValueError, match=rf"subtracting 1 from {low} would leave the range"):
        value.sub(1)
    with pytest.raises(FieldValueError, match="would leave the range"):
        value.add(-(2**70))
    with pytest.raises(FieldValueError, match=rf"Hits.{field}: {high + 1} is out of range"):
        value.store(high + 1)
    with pytest.raises(FieldValueError, match="out of range"):
        value.exchange(low - 1)
    with pytest.raises(FieldValueError, match="out of range"):
        value.compare_exchange(low, high + 1)
    with pytest.raises(FieldValueError, match="out of range"):
        setattr(h, field, low - 1)
    with pytest.raises(FieldValueError, match="out of range"):
        h.update(**{field: high + 1})
    assert value.compare_exchange(high + 1, low) is False  # a value the field cannot hold never matches
    assert value.load() == low
    assert value.add(high - low) == low and value.load() == high  # the whole range is usable


def test_type_errors_name_the_field_and_change_nothing() -> None:
    h = Hits(total=1)
    for bad in ("1", 1.0, True, None, [1]):
        with pytest.raises(FieldTypeError, match=r"Hits.total expects an int, got"):
            h.total.add(bad)  # type: ignore[arg-type]
        with pytest.raises(FieldTypeError, match=r"Hits.total expects an int"):
            h.total.store(bad)  # type: ignore[arg-type]
    with pytest.raises(FieldTypeError):
        Hits(total="x")  # type: ignore[arg-type]
    assert h.total.add(np.int16(2)) == 1 and h.total.load() == 3  # numpy integers are integers


def test_wait_wakes_on_a_change_from_another_process(ctx: BaseContext) -> None:
    h = Hits(total=3)
    ready, results = ctx.Event(), ctx.Queue()
    child = ctx.Process(target=wait_for_change, args=(h, 3, ready, results))
    child.start()
    assert ready.wait(JOIN_TIMEOUT)
    h.total.add(1)
    assert results.get(timeout=JOIN_TIMEOUT) == (True, 4)
    finish(child)


def test_wait_returns_at_once_or_times_out() -> None:
    h = Hits(total=3)
    assert h.total.wait(2) is True  # already differs
    assert h.total.wait(3, timeout=0.05) is False
    assert h.total.wait(2**80) is True
    h.total.notify_all()  # nobody waits: nothing happens


def test_atomic_fields_in_tables_logs_and_pickles() -> None:
    table = Hits.table(3)
    table[1].total.add(5)
    table[2].small = 9
    assert table.column("total").tolist() == [0, 5, 0]  # a plain integer column
    assert table.records.dtype["small"] == np.dtype(np.uint32)
    log = Hits.log(4)
    log.append(total=2, small=3)
    assert log[0].total.add(1) == 2 and log.column("total").tolist() == [3]
    again = pickle.loads(pickle.dumps(table))
    assert again[1].total.load() == 5
    assert [m.total for m in table.models()] == [0, 5, 0]


class _Nested(SharedStruct):
    inner: Hits = shmstruct.nested(total=4)


def test_atomic_fields_in_nested_structs() -> None:
    n = _Nested()
    assert n.inner.total.add(1) == 4 and n.inner.total.load() == 5


def test_declaration_errors() -> None:
    with pytest.raises(SchemaError, match="atomic fields hold 32- or 64-bit integers"):

        class Tiny(SharedStruct):
            x: Atomic[shmstruct.int8] = atomic()

    with pytest.raises(SchemaError, match="atomic fields hold 32- or 64-bit integers"):

        class Floaty(SharedStruct):
            x: Atomic[float] = atomic()  # type: ignore[type-var]

    with pytest.raises(SchemaError, match=r"written atomic\(\) or atomic\(0\)"):

        class Plain(SharedStruct):
            x: Atomic[int] = 0  # type: ignore[assignment]

    with pytest.raises(SchemaError, match=r"annotate it Atomic\[int\]"):

        class Wrong(SharedStruct):
            x: int = atomic()

    with pytest.raises(SchemaError, match=r"the default 2147483648 is invalid.*out of range for int32_t"):

        class Over(SharedStruct):
            x: Atomic[shmstruct.int32] = atomic(2**31)

    with pytest.raises(SchemaError, match="constraints are not supported on atomic fields"):

        class Constrained(SharedStruct):
            x: Annotated[Atomic[int], Field(ge=0)] = atomic()


def test_an_atomic_field_is_part_of_the_schema_fingerprint() -> None:
    class Plain(SharedStruct):
        n: int = 0

    class AtomicVersion(SharedStruct):
        n: Atomic[int] = atomic()

    from shmstruct._header import template_of

    assert template_of(Plain).fingerprint != template_of(AtomicVersion).fingerprint
    assert str(AtomicVersion.layout).count("_Atomic int64_t") == 1
