"""The 500 path's log line as the GCP entry writes it: an Error Reporting event (ReportedErrorEvent
`@type`, the stack trace as `message`, `context.httpRequest`, `serviceContext`), without the
caller's token, the query or a URL's secrets; and the metrics lines' jsonPayload fields."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from core.metrics.cloud_logging import LogMetrics

REPORTED_ERROR_EVENT = (
    "type.googleapis.com/google.devtools.clouderrorreporting.v1beta1.ReportedErrorEvent"
)
SECRET = "s3cr3t-signature"


@pytest.fixture(scope="module")
def gcp_entry():
    """handlers.gcp_function, with the root logger as it was: importing it installs its
    Cloud Logging handler on the root logger, which the other tests must not inherit."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    import handlers.gcp_function as entry

    root.handlers[:] = handlers
    root.setLevel(level)
    return entry


@pytest.fixture
def formatter(gcp_entry, monkeypatch):
    monkeypatch.setenv("K_SERVICE", "fnproxy-api")
    monkeypatch.setenv("K_REVISION", "fnproxy-api-00042-abc")
    return gcp_entry.CloudLoggingFormatter("proj")


async def test_an_unexpected_error_is_an_error_reporting_event_without_secrets(
    client, admin, services, formatter, monkeypatch, caplog
):
    async def broken() -> dict[str, str]:
        raise RuntimeError(f"store gone at https://store.test/db?sig={SECRET}")

    monkeypatch.setattr(services.health, "results", broken)
    headers = {**admin, "User-Agent": "probe/1.0"}

    with caplog.at_level(logging.ERROR, logger="fnproxy.api"):
        answer = await client.get("/health", headers=headers)

    assert answer.status_code == 500
    assert answer.json()["detail"] == "an internal error occurred"
    [record] = [r for r in caplog.records if r.name == "fnproxy.api"]
    line = formatter.format(record)
    entry = json.loads(line)
    assert entry["@type"] == REPORTED_ERROR_EVENT and entry["severity"] == "ERROR"
    assert entry["message"].startswith("Traceback (most recent call last):\n")
    assert "RuntimeError: store gone at https://store.test/db?sig=***" in entry["message"]
    assert entry["context"] == {
        "httpRequest": {
            "method": "GET",
            "url": "http://fnproxy.test/health",
            "responseStatusCode": 500,
            "userAgent": "probe/1.0",
            "remoteIp": "127.0.0.1",
        }
    }
    assert entry["serviceContext"] == {"service": "fnproxy-api", "version": "fnproxy-api-00042-abc"}
    assert SECRET not in line and admin["Authorization"].removeprefix("Bearer ") not in line


def test_any_logged_trace_has_its_urls_redacted(formatter):
    try:
        raise RuntimeError(f"callback to https://user:pw@hook.test/h?sig={SECRET} failed")
    except RuntimeError:
        record = logging.getLogger("fnproxy.invoke").makeRecord(
            "fnproxy.invoke", logging.ERROR, __file__, 1, "callback failed", (), sys.exc_info()
        )

    line = formatter.format(record)

    assert "@type" not in json.loads(line)  # no request: an ordinary error line
    assert "RuntimeError: callback to https://***:***@hook.test/h?sig=*** failed" in line
    assert SECRET not in line and "pw@" not in line


async def test_a_blob_links_token_stays_out_of_the_reported_url(gcp_entry):
    from starlette.requests import Request

    from core.api.unexpected import http_request_context

    scope = {
        "type": "http",
        "method": "GET",
        "scheme": "https",
        "server": ("fnproxy.test", 443),
        "path": f"/v1/blobs/{SECRET}",
        "query_string": f"expires={SECRET}".encode(),
        "headers": [(b"host", b"fnproxy.test"), (b"authorization", SECRET.encode())],
        "client": ("198.51.100.4", 5000),
    }

    context = http_request_context(Request(scope))

    assert context["url"] == "https://fnproxy.test/v1/blobs/{token}"
    assert SECRET not in json.dumps(context)


def test_a_metrics_line_carries_its_fields_in_the_json_payload(formatter, caplog):
    logger = logging.getLogger("fnproxy.metrics.test")
    metrics = LogMetrics(logger)

    with caplog.at_level(logging.INFO, logger=logger.name):
        metrics.invocation("local:echo", "local", "succeeded", True, 12.5)
        metrics.store_error("count in stats")

    outcome, store = (json.loads(formatter.format(r)) for r in caplog.records)
    assert outcome["message"] == "invocations local:echo succeeded"
    assert {k: outcome[k] for k in ("metric", "function", "provider", "status")} == {
        "metric": "invocations",
        "function": "local:echo",
        "provider": "local",
        "status": "succeeded",
    }
    assert outcome["success"] is True and outcome["duration_ms"] == 12.5
    assert (store["metric"], store["operation"]) == ("store_errors", "count in stats")
    assert "@type" not in outcome
