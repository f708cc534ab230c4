"""The audit log: one JSON line per request, never a secret."""

from __future__ import annotations

import json
import logging
import os

import pytest

from core.auth.audit import AUDIT_LOGGER, AuditLog
from core.auth.principal import Principal

SECRET_TOKEN = "eyJhbGciOiJIUzI1NiJ9.secret-token.signature"
PRINCIPAL = Principal(
    subject="client:cl_abc", scopes=frozenset({"invoke"}), token_id="jti-1", client_id="cl_abc"
)
FIXED_NOW = 1_700_000_000.25


def audit_lines(caplog: pytest.LogCaptureFixture) -> list[dict]:
    records = [record for record in caplog.records if record.name == AUDIT_LOGGER]
    return [json.loads(record.getMessage()) for record in records]


def test_one_json_line_with_every_field(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)

    AuditLog(clock=lambda: FIXED_NOW).record(
        request_id="req-1",
        principal=PRINCIPAL,
        action="POST /v1/invoke",
        resource="local:echo",
        decision="allow",
        outcome=200,
        duration_ms=12.34567,
    )

    [line] = audit_lines(caplog)
    assert line == {
        "ts": "2023-11-14T22:13:20.250+00:00",
        "request_id": "req-1",
        "principal": "client:cl_abc",
        "action": "POST /v1/invoke",
        "resource": "local:echo",
        "decision": "allow",
        "outcome": 200,
        "duration_ms": 12.346,
        "pid": os.getpid(),
    }
    [record] = [record for record in caplog.records if record.name == AUDIT_LOGGER]
    assert "\n" not in record.getMessage()
    assert SECRET_TOKEN not in caplog.text
    assert PRINCIPAL.token_id not in caplog.text


def test_anonymous_denial_without_duration(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)

    AuditLog().record(
        request_id="req-2",
        principal=None,
        action="GET /v1/stats",
        resource=None,
        decision="deny",
        outcome=401,
    )

    [line] = audit_lines(caplog)
    assert line["principal"] == "anonymous"
    assert (line["decision"], line["outcome"], line["resource"]) == ("deny", 401, None)
    assert "duration_ms" not in line
    assert line["ts"].endswith("+00:00")


def test_a_subject_string_is_accepted_as_principal(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    AuditLog().record(
        request_id="req-3",
        principal="module",
        action="worker.invoke",
        resource="aws_lambda:my-fn",
        decision="allow",
        outcome="error",
    )
    [line] = audit_lines(caplog)
    assert (line["principal"], line["action"], line["outcome"]) == (
        "module",
        "worker.invoke",
        "error",
    )


def test_nothing_is_built_when_the_logger_is_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=AUDIT_LOGGER)
    AuditLog().record(
        request_id="req-4", principal=None, action="a", resource=None, decision="deny", outcome=403
    )
    assert audit_lines(caplog) == []
