"""`Execution.to_public_dict`: the record as callers see it, built without copying what it
does not change, and never changing the record it reads."""

from __future__ import annotations

import time
from dataclasses import fields

from core.models import INTERNAL_FIELDS, Execution, Status, iso

BLOB = {"key": "payloads/abc", "size": 12, "sha256": "0" * 64, "content_type": "text/plain"}


def archived_execution() -> Execution:
    now = time.time()
    return Execution(
        execution_id="e-1",
        target={"provider": "http", "url": "https://fn.example/run?token=secret"},
        provider="http",
        function="run",
        mode="sync",
        status=Status.SUCCEEDED,
        caller="client-1",
        created_at=now,
        updated_at=now,
        expires_at=now + 60,
        finished_at=now,
        result={"items": [1, 2, 3]},
        payload_blob=dict(BLOB),
        lease_owner="runner-a",
        announcement_pending=True,
    )


def test_the_public_record_has_the_public_fields_in_declaration_order() -> None:
    public = archived_execution().to_public_dict()

    expected = [f.name for f in fields(Execution) if f.name not in INTERNAL_FIELDS]
    assert list(public) == expected


def test_times_are_iso_and_the_blob_reference_names_no_storage_key() -> None:
    execution = archived_execution()
    public = execution.to_public_dict()

    assert public["created_at"] == iso(execution.created_at)
    assert public["started_at"] is None
    assert public["payload_blob"] == {k: v for k, v in BLOB.items() if k != "key"}
    assert public["target"]["url"] == "https://fn.example/run?token=***"


def test_changing_the_public_record_leaves_the_execution_as_it_was() -> None:
    execution = archived_execution()
    public = execution.to_public_dict()

    public["payload_blob"] |= {"url": "https://signed.example/x"}
    public["result"] = {"replaced": True}
    public["target"]["url"] = "https://elsewhere.example/"

    assert execution.payload_blob == BLOB
    assert execution.result == {"items": [1, 2, 3]}
    assert execution.target["url"] == "https://fn.example/run?token=secret"
