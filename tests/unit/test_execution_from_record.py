"""`Execution.from_record`: what the stores read records with, the constructor's result at a
fraction of its CPU."""

from __future__ import annotations

import dataclasses

import orjson
import pytest

from core.models import Execution


def stored_record(**fields) -> dict:
    execution = Execution(
        execution_id="0190f0e0a0b0c0d0e0f0a0b0c0d0e0f0",
        target={"provider": "http", "url": "https://fn.example/run"},
        provider="http",
        function="https://fn.example/run",
        mode="sync",
        status="succeeded",
        caller="client:cl_1",
        created_at=1.0,
        updated_at=2.0,
        expires_at=3.0,
        provider_info={"status": 200},
        attempts=2,
        **fields,
    )
    return orjson.loads(orjson.dumps(execution))


def test_a_whole_record_reads_as_the_constructor_reads_it() -> None:
    record = stored_record(error={"type": "Timeout", "message": "late"}, success=False)
    assert Execution.from_record(dict(record)) == Execution(**record)


def test_a_record_from_before_newer_fields_gets_their_defaults() -> None:
    record = stored_record()
    for name in ("provider_info", "lease_takeovers", "traceparent", "announcement_pending"):
        del record[name]
    first, second = Execution.from_record(dict(record)), Execution.from_record(dict(record))
    assert first == Execution(**record)
    first.provider_info["status"] = 500
    assert second.provider_info == {}  # each record its own dict, as the factory makes


@pytest.mark.parametrize("change", ["unknown field", "missing required field"])
def test_a_record_the_constructor_refuses_is_refused(change: str) -> None:
    record = stored_record()
    if change == "unknown field":
        record["surprise"] = 1
    else:
        del record["caller"]
    with pytest.raises(TypeError):
        Execution.from_record(record)


def test_the_read_record_is_a_dataclass_like_any_other() -> None:
    execution = Execution.from_record(stored_record())
    assert dataclasses.replace(execution, attempts=3).attempts == 3
    assert dataclasses.asdict(execution)["attempts"] == 2
