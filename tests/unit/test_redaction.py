"""Redaction at the edge of the record: header values, URL userinfo and query values masked,
names and keys kept, idempotent; and the records, views and events built from it."""

from __future__ import annotations

import time

import pytest

from core.auth.principal import Principal
from core.invoke.recorder import outcome_event, redact_error
from core.models import Execution, FunctionVersion
from core.redaction import MASK, redact_target, redact_url, redact_urls_in
from core.registry.service import visible_to

SECRET = "s3cr3t-Value"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://api.example/v1/run", "https://api.example/v1/run"),
        (f"https://u:{SECRET}@h/p", "https://***:***@h/p"),
        (f"https://{SECRET}@h/p", "https://***@h/p"),
        (f"https://h:8443/p?token={SECRET}&page=2", "https://h:8443/p?token=***&page=***"),
        (f"https://h/p?{SECRET}", "https://h/p?***"),
        (f"https://h/p?a=&b={SECRET}=x", "https://h/p?a=***&b=***"),
        (f"https://h/p#access_token={SECRET}", "https://h/p#***"),
        (f"http://u:p@ss{SECRET}@[::1]:80/?k={SECRET}", "http://***:***@[::1]:80/?k=***"),
        (f"http://h:99999999/{SECRET}", MASK),
    ],
)
def test_a_url_keeps_scheme_host_path_and_query_keys_only(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert redact_url(shown) == shown  # idempotent


def test_a_target_keeps_header_names_and_masks_their_values() -> None:
    target = {
        "provider": "http",
        "url": f"https://user:{SECRET}@h/hook?token={SECRET}",
        "method": "POST",
        "headers": {"X-Api-Key": SECRET, "Authorization": f"Bearer {SECRET}"},
    }
    redacted = redact_target(target)
    assert redacted == {
        "provider": "http",
        "url": "https://***:***@h/hook?token=***",
        "method": "POST",
        "headers": {"X-Api-Key": MASK, "Authorization": MASK},
    }
    assert target["headers"]["X-Api-Key"] == SECRET  # the clear target is left as it was
    assert redact_target(redacted) == redacted


def test_targets_without_secrets_are_unchanged() -> None:
    for target in (
        {"provider": "local", "function": "echo"},
        {"provider": "aws_lambda", "function": "f", "region": "eu-west-1"},
        {"provider": "gcp_functions", "function": "f", "headers": {}},
    ):
        assert redact_target(target) == target


def test_urls_in_text_are_redacted_and_the_rest_kept() -> None:
    text = f"POST https://u:{SECRET}@h/x?t={SECRET} unreachable: 'http://h/?a={SECRET}'."
    assert redact_urls_in(text) == "POST https://***:***@h/x?t=*** unreachable: 'http://h/?a=***'."


def execution(**fields) -> Execution:
    now = time.time()
    base = {
        "execution_id": "e1",
        "target": {"provider": "http", "url": "https://h/", "headers": {"X-Api-Key": SECRET}},
        "provider": "http",
        "function": "http:h/",
        "mode": "async",
        "status": "failed",
        "caller": "client:c",
        "created_at": now,
        "updated_at": now,
        "expires_at": now + 60,
    }
    return Execution(**(base | fields))


def test_the_public_record_redacts_even_a_record_stored_clear() -> None:
    record = execution(
        callback_url=f"https://cb/hook?sig={SECRET}", sealed_target="v1.x", invoke_scopes=["*"]
    ).to_public_dict()
    assert SECRET not in str(record)
    assert record["target"]["headers"] == {"X-Api-Key": MASK}
    assert record["callback_url"] == "https://cb/hook?sig=***"
    assert "sealed_target" not in record and "invoke_scopes" not in record


def test_an_error_message_echoing_a_url_is_redacted_in_the_record_and_its_event() -> None:
    failed = execution(error={"type": "Upstream", "message": f"https://h/?t={SECRET} refused"})
    redact_error(failed)
    assert failed.error == {"type": "Upstream", "message": "https://h/?t=*** refused"}
    assert SECRET not in str(outcome_event(failed).data)


def test_a_registered_target_is_clear_for_admins_alone() -> None:
    target = {"provider": "http", "url": f"https://h/?token={SECRET}", "headers": {"K": SECRET}}
    version = FunctionVersion("f", 1, target, 0.0, "module")
    admin = Principal("module", frozenset({"admin"}), "t1")
    reader = Principal("client:r", frozenset({"read", "invoke"}), "t2")
    assert visible_to(admin, version).target == target
    shown = visible_to(reader, version)
    assert shown.target == {
        "provider": "http",
        "url": "https://h/?token=***",
        "headers": {"K": MASK},
    }
    assert version.target == target  # the stored version is untouched
