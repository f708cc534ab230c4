"""`Execution.to_public_dict`: the record as callers see it, built without copying what it
does not change, and never changing the record it reads."""

from __future__ import annotations

from dataclasses import fields

from core.models import INTERNAL_FIELDS, Execution, Status, iso
from tests.contract.test_store_contract import make_execution

BLOB = {"key": "payloads/abc", "size": 12, "sha256": "0" * 64, "content_type": "text/plain"}


def archived_execution() -> Execution:
    execution = make_execution(
        target={"provider": "http", "url": "https://fn.example/run?token=secret"},
        provider="http",
        function="run",
        status=Status.SUCCEEDED,
        result={"items": [1, 2, 3]},
        payload_blob=dict(BLOB),
        lease_owner="runner-a",
        announcement_pending=True,
    )
    execution.finished_at = execution.created_at
    return execution


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
