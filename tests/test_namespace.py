"""The user's namespace: fields may take the names of the library's operations, and the
module-level functions work whatever the fields are called, under every start method."""

from __future__ import annotations

import pickle
from multiprocessing.context import BaseContext

import pytest
from helpers import run_child
from namespace_schemas import Job, append_jobs, work_on_job

import shmstruct
from shmstruct import SharedStruct


def test_fields_named_like_operations_read_and_write_as_fields() -> None:
    with Job(name="render", close=6) as job:
        assert (job.name, job.log, job.table, job.close, job.attach, job.layout, job.dtype) == (
            "render", "", 0, 6, 4, 1, 2,
        )  # fmt: skip
        job.name = "encode"
        job.options = 33
        assert (job.name, job.options) == ("encode", 33)
        with pytest.raises(shmstruct.FieldTypeError, match=r"Job\.close expects an int"):
            job.close = "now"  # type: ignore[assignment]
        assert job.close == 6
        assert shmstruct.snapshot(job).name == "encode"
        assert shmstruct.layout(Job).field("log").c_decl == "char[64]"
        assert shmstruct.layout(Job).dtype.names[:2] == ("name", "log")


def test_the_functions_work_whatever_the_fields_are_called(ctx: BaseContext) -> None:
    job = shmstruct.options(Job, keep=False)(name="job")
    try:
        run_child(ctx, work_on_job, job)
        assert job.name == "job-done"
        assert job.log == "child was here"
        assert job.table == 2
        assert (job.update, job.snapshot, job.layout, job.dtype, job.options, job.attach, job.close) == (
            1.5, True, 10, 20, 30, 40, 50,
        )  # fmt: skip
        assert job.samples.tolist() == [1, 2, 3]
        assert "Job(name='job-done'" in repr(job)
        assert pickle.loads(pickle.dumps(job)).close == 50
    finally:
        shmstruct.close(job)
    with pytest.raises(shmstruct.SharedMemoryGoneError):
        shmstruct.attach(Job, shmstruct.segment_name(job))


def test_tables_and_logs_of_such_a_schema(ctx: BaseContext) -> None:
    with shmstruct.log(Job, 4) as jobs, shmstruct.table(Job, 2) as rows:
        run_child(ctx, append_jobs, jobs, rows)
        assert [row.name for row in jobs] == ["from-child"]
        assert jobs[0].close == 7
        assert (rows[0].name, rows[1].name, rows[1].close) == ("unnamed", "row-from-child", 9)
        assert shmstruct.snapshot(rows)["close"].tolist() == [5, 9]
        assert shmstruct.segment_name(rows) == rows.name


def test_lock_and_private_names_stay_reserved() -> None:
    with pytest.raises(shmstruct.SchemaError, match=r"^S\.lock: 'lock' is the struct's shared lock"):

        class S(SharedStruct):
            lock: int = 0

    with pytest.raises(shmstruct.SchemaError, match=r"^T\._hidden: field names cannot start with '_'"):

        class T(SharedStruct):
            _hidden: int = 0


def test_the_method_spellings_remain_where_no_field_shadows_them() -> None:
    class Plain(SharedStruct):
        steps: int = 0

    with Plain() as plain:
        plain.update(steps=3)  # type: ignore[attr-defined]
        assert plain.snapshot().steps == 3  # type: ignore[attr-defined]
        assert Plain.attach(plain.name).steps == 3  # type: ignore[attr-defined]
        assert Plain.layout is shmstruct.layout(Plain)  # type: ignore[attr-defined]


def test_functions_refuse_what_is_not_a_struct() -> None:
    with pytest.raises(TypeError, match="expected a SharedStruct subclass that declares fields"):
        shmstruct.table(int, 3)  # type: ignore[type-var]
    with pytest.raises(TypeError, match="expected a shmstruct struct, table or log"):
        shmstruct.close(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expected a SharedStruct subclass that declares fields"):
        shmstruct.snapshot(object())  # type: ignore[call-overload]
