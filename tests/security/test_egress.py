"""Issue 10 §1, live: the egress findings replayed against `fnproxy serve` with the cloud's
egress rules, a loopback listener standing in for the metadata services. Where fnproxy refuses,
the listener must have seen no request at all; where it records an execution, the record says
it failed (GET /v1/invocations/{id}).

The `allowing` server opens 127.0.0.1/32 with EGRESS_ALLOW, to show the allow-list and what
happens past the first hop: a same-origin redirect is followed, another origin's is answered."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.security.support import (
    IMDS_CREDENTIALS_PATH,
    IMDS_TOKEN_PATH,
    METADATA_TOKEN_PATH,
    PLANTED_AWS_SECRET,
    PLANTED_IMDS_SESSION,
    PLANTED_METADATA_TOKEN,
    Server,
    start_server,
)

TERMINAL = ("succeeded", "failed", "timed_out")
MAX_RESPONSE_BYTES = 4096


@pytest.fixture(scope="module")
def allowing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The cloud's rules with loopback opened for 127.0.0.1 alone; retries on, small answers."""
    started = start_server(
        tmp_path_factory.mktemp("egress") / "data",
        env={
            "EGRESS_ALLOW": "127.0.0.1/32",
            "MAX_RESPONSE_BYTES": str(MAX_RESPONSE_BYTES),
            "MAX_RETRIES": "2",
            "RETRY_DELAY": "0",
        },
    )
    yield started
    started.stop()


@pytest.fixture(scope="module")
def invoker(server: Server) -> dict[str, str]:
    """A plain `invoke` token of the cloud server."""
    return server.client("invoke")


def invoke(server: Server, auth: dict[str, str], target: dict[str, Any], **fields: Any):
    with server.http() as http:
        return http.post("/v1/invoke", json={"target": target, **fields}, headers=auth)


def http_target(url: str, method: str = "GET", **headers: str) -> dict[str, Any]:
    return {"provider": "http", "url": url, "method": method, "headers": headers}


def assert_problem(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body = answer.json()
    assert body["code"] == code, body
    return body


def recorded(server: Server, execution_id: str) -> dict[str, Any]:
    """The execution's record once it is terminal."""
    deadline = time.monotonic() + 15
    with server.http() as http:
        while True:
            answer = http.get(f"/v1/invocations/{execution_id}", headers=server.admin())
            assert answer.status_code == 200, answer.text
            record = answer.json()
            if record["status"] in TERMINAL or time.monotonic() > deadline:
                return record
            time.sleep(0.1)


def assert_recorded_refusal(server: Server, answer: httpx.Response, code: str) -> None:
    record = recorded(server, answer.json()["execution_id"])
    assert record["status"] == "failed" and record["success"] is False
    assert record["error"]["type"] == code and record["attempts"] == 1


# GCE metadata: the service account's access token


def test_gce_token_flow_headers_are_refused(server, invoker, listener):
    target = http_target(
        f"{listener.url}{METADATA_TOKEN_PATH}",
        **{"Metadata-Flavor": "Google", "Host": "metadata.google.internal"},
    )
    answer = invoke(server, invoker, target)

    assert_problem(answer, 400, "header_not_allowed")
    assert PLANTED_METADATA_TOKEN not in answer.text
    assert listener.requests == []


@pytest.mark.parametrize("header", ["Metadata-Flavor", "X-Google-Metadata-Request", "Host"])
def test_each_metadata_header_alone_is_refused(server, invoker, listener, header):
    answer = invoke(server, invoker, http_target(f"{listener.url}/", **{header: "x"}))

    assert_problem(answer, 400, "header_not_allowed")
    assert listener.requests == []


def test_gce_token_path_on_loopback_is_refused_and_recorded(server, invoker, listener):
    answer = invoke(server, invoker, http_target(f"{listener.url}{METADATA_TOKEN_PATH}"))

    assert_problem(answer, 403, "egress_denied")
    assert listener.requests == []
    assert_recorded_refusal(server, answer, "egress_denied")


# AWS IMDSv2: PUT a session token, then read the role's credentials with it


def test_imdsv2_session_then_credentials_is_refused(server, invoker, listener):
    put = invoke(
        server,
        invoker,
        http_target(
            f"{listener.url}{IMDS_TOKEN_PATH}",
            "PUT",
            **{"X-aws-ec2-metadata-token-ttl-seconds": "21600"},
        ),
    )
    get = invoke(
        server,
        invoker,
        http_target(
            f"{listener.url}{IMDS_CREDENTIALS_PATH}",
            **{"X-aws-ec2-metadata-token": PLANTED_IMDS_SESSION},
        ),
    )
    plain_put = invoke(server, invoker, http_target(f"{listener.url}{IMDS_TOKEN_PATH}", "PUT"))

    assert_problem(put, 400, "header_not_allowed")
    assert_problem(get, 400, "header_not_allowed")
    assert_problem(plain_put, 403, "egress_denied")
    assert PLANTED_AWS_SECRET not in put.text + get.text + plain_put.text
    assert listener.requests == []


# Redirects


def test_a_302_to_the_metadata_path_is_never_followed(server, invoker, listener):
    to = f"{listener.url}{METADATA_TOKEN_PATH}"
    answer = invoke(server, invoker, http_target(f"{listener.url}/redirect?to={to}&status=302"))

    assert_problem(answer, 403, "egress_denied")
    assert listener.requests == []


def test_a_302_to_another_origin_is_the_answer_past_the_first_hop(allowing, listener):
    to = f"http://localhost:{listener.port}{METADATA_TOKEN_PATH}"
    target = http_target(f"{listener.url}/redirect?to={to}")
    target["headers"] = {"Authorization": "Bearer caller-secret"}
    answer = invoke(allowing, allowing.client("invoke"), target)

    assert answer.status_code == 200, answer.text
    envelope = answer.json()
    assert envelope["status_code"] == 302 and envelope["success"] is False
    assert envelope["result"] == {"redirect": True}
    assert [request.path for request in listener.requests] == [f"/redirect?to={to}"]


def test_a_same_origin_redirect_is_followed_and_checked_again(allowing, listener):
    to = f"{listener.url}/echo"
    answer = invoke(
        allowing, allowing.client("invoke"), http_target(f"{listener.url}/redirect?to={to}")
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["path"] == "/echo"
    assert [request.path for request in listener.requests][-1] == "/echo"


# Numeric spellings of loopback


@pytest.mark.parametrize(
    "host", ["2130706433", "0x7f000001", "127.1", "0.0.0.0", "[::ffff:127.0.0.1]"]
)
def test_numeric_spellings_of_loopback_are_refused(server, invoker, listener, host):
    answer = invoke(server, invoker, http_target(f"http://{host}:{listener.port}/echo"))

    assert_problem(answer, 403, "egress_denied")
    assert listener.requests == []
    assert_recorded_refusal(server, answer, "egress_denied")


def test_an_async_run_to_loopback_is_recorded_as_failed(server, invoker, listener):
    answer = invoke(server, invoker, http_target(f"{listener.url}/echo"), mode="async")

    assert answer.status_code == 202, answer.text
    record = recorded(server, answer.json()["execution_id"])
    assert record["status"] == "failed" and record["error"]["type"] == "egress_denied"
    assert listener.requests == []


def test_the_allow_list_opens_loopback(allowing, listener):
    answer = invoke(allowing, allowing.client("invoke"), http_target(f"{listener.url}/echo"))

    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["path"] == "/echo"
    assert len(listener.hits("/echo")) == 1


def test_the_allow_list_opens_only_what_it_names(allowing, listener):
    answer = invoke(
        allowing, allowing.client("invoke"), http_target(f"http://127.0.0.2:{listener.port}/")
    )

    assert_problem(answer, 403, "egress_denied")
    assert listener.requests == []


# Scope escapes


def test_a_scoped_token_cannot_reach_fnproxy_itself_through_a_307(server, listener):
    scoped = server.client(f"invoke:http:127.0.0.1:{listener.port}/*")
    fnproxy = server.url.replace("127.0.0.1", "localhost")
    target = http_target(f"{listener.url}/redirect?to={fnproxy}/health&status=307")
    answer = invoke(server, scoped, target)

    assert_problem(answer, 403, "egress_denied")
    assert listener.requests == []


def test_past_the_first_hop_a_307_to_fnproxy_itself_is_only_an_answer(allowing, listener):
    scoped = allowing.client(f"invoke:http:127.0.0.1:{listener.port}/*")
    fnproxy = allowing.url.replace("127.0.0.1", "localhost")
    target = http_target(f"{listener.url}/redirect?to={fnproxy}/health&status=307")
    answer = invoke(allowing, scoped, target)

    assert answer.status_code == 200, answer.text
    envelope = answer.json()
    assert envelope["status_code"] == 307 and envelope["result"] == {"redirect": True}
    assert "checks" not in answer.text and "version" not in str(envelope["result"])


@pytest.mark.parametrize(
    "path", ["/public/../admin", "/public/%2e%2e/admin", "/public/%2E%2E/admin"]
)
def test_dot_segments_cannot_leave_a_path_scope(server, listener, path):
    scoped = server.client(f"invoke:http:127.0.0.1:{listener.port}/public/*")
    answer = invoke(server, scoped, http_target(f"{listener.url}{path}"))

    body = assert_problem(answer, 403, "forbidden")
    assert body["function"] == f"http:127.0.0.1:{listener.port}/admin"
    assert listener.requests == []


def test_a_same_origin_redirect_out_of_a_path_scope_is_refused(allowing, listener):
    listener.routes["/public/go"] = lambda handler: handler.answer(
        302, {"moved": True}, {"Location": "/admin"}
    )
    scoped = allowing.client(f"invoke:http:127.0.0.1:{listener.port}/public/*")
    answer = invoke(allowing, scoped, http_target(f"{listener.url}/public/go"))

    assert_problem(answer, 403, "forbidden")
    assert [request.path for request in listener.requests] == ["/public/go"]
    assert_recorded_refusal(allowing, answer, "forbidden")


# Callbacks


def test_a_plain_http_callback_url_is_refused_on_the_cloud(server, listener):
    local_only = server.client("invoke:local:*")
    target = {"provider": "local", "function": "hello"}
    answer = invoke(server, local_only, target, mode="async", callback_url=f"{listener.url}/cb")

    assert_problem(answer, 400, "invalid_request")
    assert "https" in answer.json()["detail"]


@pytest.mark.parametrize("host", ["127.0.0.1", "2130706433", "[::ffff:127.0.0.1]", "localhost"])
def test_a_callback_url_to_loopback_or_metadata_is_refused_at_once(server, listener, host):
    local_only = server.client("invoke:local:*")
    target = {"provider": "local", "function": "hello"}
    callback = f"https://{host}:{listener.port}/cb"
    answer = invoke(server, local_only, target, mode="async", callback_url=callback)

    assert_problem(answer, 403, "egress_denied")
    time.sleep(0.5)  # a run, had one started, would have finished and called back by now
    assert listener.requests == []


# Answer size


def test_an_answer_over_max_response_bytes_is_a_502_and_not_retried(allowing, listener):
    listener.routes["/big"] = lambda handler: handler.answer(
        200, b"x" * (MAX_RESPONSE_BYTES + 1), {"Content-Type": "text/plain"}
    )
    answer = invoke(allowing, allowing.client("invoke"), http_target(f"{listener.url}/big"))

    assert_problem(answer, 502, "response_too_large")
    assert len(listener.hits("/big")) == 1
    assert_recorded_refusal(allowing, answer, "response_too_large")
