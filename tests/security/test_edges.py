"""Bounds before work and a small public surface (issue 10 §3, §4), replayed against a live
`fnproxy serve`: numeric query parameters, the request head cap, the header and idle timeouts,
the connection cap, the token throttle, the public health answers and the edge headers.

Every byte stays on loopback; the throttle tests call from 127.0.0.2 and 127.0.0.3 (loopback
addresses too) so that each source address has counters of its own."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from openapi_spec_validator import validate

from tests.security.support import Server, start_server

PROBLEM = "application/problem+json"
MAX_FAILURES = 3
BOUNDS = {
    "REST_MAX_HEADER_BYTES": str(16 * 1024),
    "REST_HEADER_TIMEOUT_S": "1",
    "REST_IDLE_TIMEOUT_S": "1",
    "REST_MAX_CONNECTIONS": "4",
    "AUTH_MAX_FAILURES": str(MAX_FAILURES),
    "AUTH_FAILURE_WINDOW_S": "600",
}
COMPAT_HEALTHS = ("/lambda/health", "/gcp/health", "/openwhisk/health")


@pytest.fixture(scope="module")
def bounded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """fnproxy with short timeouts, 4 connections and 3 failed token requests per window."""
    started = start_server(tmp_path_factory.mktemp("edges") / "data", env=BOUNDS)
    yield started
    started.stop()


def port_of(server: Server) -> int:
    return urlsplit(server.url).port


def connect(server: Server, timeout: float = 5) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port_of(server)), timeout=timeout)


def read_until_closed(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def from_address(server: Server, address: str) -> httpx.Client:
    """A client of `server` whose connections leave from the loopback `address`."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=server.url, transport=transport, timeout=30)


def assert_problem(answer: httpx.Response, status: int, code: str) -> dict:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    body = answer.json()
    assert body["status"] == status and body["code"] == code
    return body


# --- numeric query parameters ----------------------------------------------------------------


@pytest.mark.parametrize("since", ["-1e11", "nan", "inf", "-inf", "-1e300", "1e300"])
def test_stats_refuses_a_since_out_of_range_at_once(server: Server, since: str) -> None:
    reader = server.client("read")
    with server.http() as http:
        started = time.monotonic()
        answer = http.get("/v1/stats", params={"since": since}, headers=reader)
        elapsed = time.monotonic() - started
    assert_problem(answer, 400, "invalid_request")
    assert elapsed < 0.5


@pytest.mark.parametrize("since", ["1e11", "0", "1900-01-01T00:00:00Z"])
def test_stats_brings_a_far_since_within_the_window_at_once(server: Server, since: str) -> None:
    """A time the document admits (0 to 9999) but outside the retention window is brought
    within it: no bucket beyond the window is ever listed, however far the time."""
    reader = server.client("read")
    with server.http() as http:
        started = time.monotonic()
        answer = http.get("/v1/stats", params={"since": since}, headers=reader)
        elapsed = time.monotonic() - started
    assert answer.status_code == 200, answer.text
    assert time.time() - 31 * 86400 <= answer.json()["since"] <= time.time()
    assert elapsed < 0.5


def test_stats_takes_a_since_within_the_retention_window(server: Server) -> None:
    reader = server.client("read")
    with server.http() as http:
        moment = time.time() - 29 * 86400
        answer = http.get("/v1/stats", params={"since": str(moment)}, headers=reader)
        assert answer.status_code == 200, answer.text
        assert moment - 3600 < answer.json()["since"] <= moment  # its bucket, not brought in


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/v1/invocations", {"since": "nan"}),
        ("/v1/invocations", {"until": "-inf"}),
        ("/v1/invocations", {"since": "1" * 5000}),
        ("/v1/invocations", {"limit": "1e3"}),
        ("/v1/invocations", {"limit": "9" * 5000}),
        ("/v1/invocations", {"limit": "-0x10"}),
        ("/v1/providers/local/functions", {"limit": "nan"}),
        ("/v1/providers/local/functions", {"limit": "100000000000000000000000"}),
        ("/lambda/api/v1/functions", {"max_items": "inf"}),
        ("/openwhisk/api/v1/actions", {"skip": "-1"}),
    ],
)
def test_numeric_query_parameters_are_checked_first(server: Server, path, query) -> None:
    admin = server.admin()
    with server.http() as http:
        answer = http.get(path, params=query, headers=admin)
    body = assert_problem(answer, 400, "invalid_request")
    assert "must be" in body["detail"]


def test_a_version_of_5000_digits_is_refused(server: Server) -> None:
    with server.http() as http:
        answer = http.post(
            "/v1/functions/nope/invoke",
            params={"version": "9" * 5000},
            json={"payload": {}},
            headers=server.admin(),
        )
    assert_problem(answer, 400, "invalid_request")


# --- the request head ------------------------------------------------------------------------


def test_a_head_over_the_cap_is_answered_431_before_it_ends(bounded: Server) -> None:
    with connect(bounded) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: fnproxy\r\nX-Big: " + b"a" * 64 * 1024)
        answer = read_until_closed(sock)  # the head never ended: the server answered anyway
    assert answer.startswith(b"HTTP/1.1 431 ")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert PROBLEM.encode() in head and b'"code":"header_too_large"' in body


def test_a_1_mb_header_is_431_and_the_server_answers_the_next_request(bounded: Server) -> None:
    with bounded.http() as http:
        answer = http.get("/health", headers={"X-Big": "a" * 1024 * 1024})
        assert_problem(answer, 431, "header_too_large")
        assert http.get("/health").status_code == 200


def test_a_head_under_the_cap_is_served(bounded: Server) -> None:
    with bounded.http() as http:
        assert http.get("/health", headers={"X-Fill": "a" * 12 * 1024}).status_code == 200


def test_a_trickled_head_is_cut_off(bounded: Server) -> None:
    with connect(bounded) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: fnproxy\r\n")
        started = time.monotonic()
        with pytest.raises(OSError):  # reset or broken pipe once the server has closed
            for _ in range(50):
                sock.sendall(b"X")
                time.sleep(0.1)
        assert sock.recv(1024) == b""
    assert time.monotonic() - started < 3


def test_a_silent_connection_is_closed(bounded: Server) -> None:
    with connect(bounded) as sock:
        started = time.monotonic()
        assert sock.recv(1024) == b""
    assert time.monotonic() - started < 3


def test_an_idle_kept_alive_connection_is_closed(bounded: Server) -> None:
    with connect(bounded) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: fnproxy\r\n\r\n")
        answer = b""
        while not answer.endswith(b"}"):  # the whole answer: its JSON body ends with a brace
            answer += sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        assert read_until_closed(sock) == b""
    assert time.monotonic() - started < 3


def test_connections_over_the_cap_are_closed_at_once(bounded: Server) -> None:
    held = [connect(bounded) for _ in range(4)]
    for sock in held:  # each in a request: an idle one would make room (tests/faults)
        sock.sendall(b"GET /health HTTP/1.1\r\n")
    try:
        with connect(bounded) as extra:
            extra.settimeout(0.5)
            assert extra.recv(1024) == b""  # closed at once, long before the head timeout
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)
    with bounded.http() as http:
        assert http.get("/health").status_code == 200


# --- the token throttle ----------------------------------------------------------------------


def new_client_credentials(server: Server) -> dict[str, str]:
    with server.http() as http:
        created = http.post(
            "/v1/clients", json={"name": "t", "scopes": ["read"]}, headers=server.admin()
        )
    assert created.status_code == 201, created.text
    body = created.json()
    return {"client_id": body["client_id"], "client_secret": body["client_secret"]}


def test_failed_token_requests_are_throttled_per_client_id(bounded: Server) -> None:
    victim = new_client_credentials(bounded)
    other = new_client_credentials(bounded)
    wrong = victim | {"client_secret": "fps_wrong"}
    with from_address(bounded, "127.0.0.2") as guesser:
        for _ in range(MAX_FAILURES):
            assert guesser.post("/v1/auth/token", json=wrong).status_code == 401
        refused = guesser.post("/v1/auth/token", json=wrong)
    assert_problem(refused, 429, "rate_limited")
    assert 1 <= int(refused.headers["retry-after"]) <= 600
    assert refused.json()["error"] == "temporarily_unavailable"
    with from_address(bounded, "127.0.0.3") as owner:
        # The right secret, from another address: still refused until the window ends...
        assert_problem(owner.post("/v1/auth/token", json=victim), 429, "rate_limited")
        # ...while another client at that address is served.
        assert owner.post("/v1/auth/token", json=other).status_code == 200


def test_failed_token_requests_are_throttled_per_address_on_every_token_route(
    bounded: Server,
) -> None:
    good = new_client_credentials(bounded)
    with from_address(bounded, "127.0.0.4") as guesser:
        for n in range(MAX_FAILURES):
            wrong = {"client_id": f"cl_guess{n}", "client_secret": "fps_wrong"}
            assert guesser.post("/v1/auth/token", json=wrong).status_code == 401
        refusals = [
            guesser.post("/v1/auth/token", json=good),
            guesser.post("/v1/auth/token", json={"api_key": bounded.module_key}),
            guesser.post("/lambda/api/v1/token", json=good),
            guesser.post("/gcp/api/v1/auth/token", json={"api_key": bounded.module_key}),
            guesser.post("/openwhisk/api/v1/auth/token", json={"api_key": bounded.module_key}),
        ]
    for refused in refusals:
        assert_problem(refused, 429, "rate_limited")
        assert int(refused.headers["retry-after"]) >= 1
    with from_address(bounded, "127.0.0.5") as elsewhere:
        assert elsewhere.post("/v1/auth/token", json=good).status_code == 200


def test_wrong_api_keys_are_throttled_too(bounded: Server) -> None:
    with from_address(bounded, "127.0.0.6") as guesser:
        for route in ("/v1/auth/token", "/gcp/api/v1/auth/token", "/openwhisk/api/v1/auth/token"):
            assert guesser.post(route, json={"api_key": "x" * 64}).status_code == 401
        right = guesser.post("/v1/auth/token", json={"api_key": bounded.module_key})
    assert_problem(right, 429, "rate_limited")


# --- the public surface ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/health", *COMPAT_HEALTHS])
def test_health_tells_an_anonymous_caller_its_status_and_version_only(
    server: Server, path: str
) -> None:
    with server.http() as http:
        answer = http.get(path)
        invoker = http.get(path, headers=server.client("invoke"))
    assert answer.status_code == 200
    assert set(answer.json()) == {"status", "version"}
    assert invoker.json() == answer.json()


@pytest.mark.parametrize("path", ["/health", *COMPAT_HEALTHS])
def test_health_shows_its_checks_to_a_reader(server: Server, path: str) -> None:
    with server.http() as http:
        answer = http.get(path, headers=server.client("read"))
    assert answer.status_code == 200
    assert {"status", "version", "module", "timestamp"} < set(answer.json())


def test_health_refuses_an_invalid_token(server: Server) -> None:
    with server.http() as http:
        answer = http.get("/health", headers={"Authorization": "Bearer not-a-jwt"})
    assert_problem(answer, 401, "unauthorized")


def test_every_answer_says_nosniff_and_no_server_name(server: Server) -> None:
    with server.http() as http:
        answers = [
            http.get("/health"),
            http.get("/openapi.json"),
            http.get("/no/such/route"),
            http.get("/v1/invocations"),
            http.get("/v1/invocations", headers=server.client("read")),
        ]
    for answer in answers:
        assert answer.headers["x-content-type-options"] == "nosniff", answer.url
        assert "server" not in answer.headers, answer.url


def test_authenticated_answers_are_not_stored(server: Server) -> None:
    reader = server.client("read", "invoke")
    with server.http() as http:
        created = http.post("/v1/sessions", json={"data": {"a": 1}}, headers=reader)
        answers = [
            created,
            http.get(f"/v1/sessions/{created.json()['session_id']}", headers=reader),
            http.get("/v1/invocations", headers=reader),
            http.get("/v1/stats", headers=reader),
            http.get("/health", headers=reader),
            http.get("/v1/invocations/nope", headers=reader),
        ]
    for answer in answers:
        assert answer.headers["cache-control"] == "no-store", answer.url


def test_the_openapi_document_is_valid_and_lists_the_edge_headers(server: Server) -> None:
    with server.http() as http:
        document = http.get("/openapi.json").json()
    validate(document)
    for path in (
        "/v1/auth/token",
        "/lambda/api/v1/token",
        "/gcp/api/v1/auth/token",
        "/openwhisk/api/v1/auth/token",
    ):
        throttled = document["paths"][path]["post"]["responses"]["429"]
        assert "Retry-After" in throttled["headers"], path
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            unavailable = operation["responses"]["503"]  # every route touches a backend
            assert "Retry-After" in unavailable["headers"], (method, path)
    health = document["paths"]["/health"]["get"]
    assert {} in health["security"] and "401" in health["responses"]
    for status, response in health["responses"].items():
        edge = {"X-Content-Type-Options"} | ({"X-Request-Id"} if status != "431" else set())
        assert edge <= set(response["headers"])  # a 431 is answered before the app
