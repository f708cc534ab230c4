"""OpenWhiskProvider against the OpenWhisk-protocol test server (tests/fixtures)."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from pydantic import ValidationError

from core.config import ConfigError
from core.errors import (
    CursorNotFound,
    FnproxyError,
    Forbidden,
    FunctionNotFound,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ResponseTooLarge,
    UpstreamUnavailable,
    UpstreamUnreachable,
)
from core.models import Execution
from core.providers.base import CallContext, SettlingProvider, TransientFailure
from core.providers.openwhisk import OpenWhiskProvider
from core.targets import OpenWhiskTarget
from tests.conftest import free_port
from tests.faults.fault_target import FaultTarget
from tests.fixtures.openwhisk_fixture import (  # noqa: F401 - fixtures
    RunningOpenWhisk,
    openwhisk_server,
    openwhisk_session,
)
from tests.fixtures.openwhisk_server import Action

ACTIONS = "/api/v1/namespaces/guest/actions"


@pytest.fixture
def ow(openwhisk_server: RunningOpenWhisk) -> RunningOpenWhisk:  # noqa: F811
    return openwhisk_server


@pytest.fixture
async def provider(ow: RunningOpenWhisk) -> AsyncIterator[OpenWhiskProvider]:
    provider = OpenWhiskProvider(ow.url, "guest", ow.server.auth_key, pool_size=4)
    yield provider
    await provider.close()


def call(timeout_s: float = 5.0) -> CallContext:
    return CallContext(execution_id="exec-1", caller="tester", timeout_s=timeout_s, attempt=1)


def action(name: str, kind: str = "action", **fields) -> OpenWhiskTarget:
    return OpenWhiskTarget(provider="openwhisk", action=name, kind=kind, **fields)


def running(provider_info: dict) -> Execution:
    """An execution as the runner records one its provider left running."""
    return Execution(
        execution_id="exec-1",
        target={},
        provider="openwhisk",
        function="openwhisk:guest/slow",
        mode="sync",
        status="running",
        caller="tester",
        created_at=0.0,
        updated_at=0.0,
        expires_at=0.0,
        duration_ms=1.0,
        provider_info=provider_info,
    )


def last_request(ow: RunningOpenWhisk):
    return ow.server.requests[-1]


# actions


async def test_blocking_action_answers_with_its_activation(provider, ow):
    outcome = await provider.invoke(action("hello"), {"name": "Ada"}, call())

    assert outcome.success is True and outcome.settled
    assert outcome.status_code == 200
    assert outcome.result == {"greeting": "Hello, Ada!"}
    assert outcome.error is None
    assert outcome.logs == "2026-01-01T00:00:00.000Z stdout: hello ran"
    activation = ow.server.activations[outcome.info["activation_id"]]
    assert outcome.info == {
        "kind": "action",
        "namespace": "guest",
        "action": "hello",
        "activation_id": activation["activationId"],
        "status": "success",
        "duration_ms": activation["duration"],
        "start": activation["start"],
        "end": activation["end"],
    }
    sent = last_request(ow)
    assert sent.path == f"{ACTIONS}/hello"
    assert sent.query["blocking"] == "true" and sent.query["result"] == "false"
    assert sent.headers["content-type"] == "application/json"


async def test_blocking_wait_stays_within_openwhisks_limit_and_before_the_deadline(provider, ow):
    await provider.invoke(action("echo"), {}, call(timeout_s=300))
    assert last_request(ow).query["timeout"] == "60000"

    await provider.invoke(action("echo"), {}, call(timeout_s=5))
    assert last_request(ow).query["timeout"] == "4500"

    await provider.invoke(action("echo"), {}, call(timeout_s=1))
    assert last_request(ow).query["timeout"] == "900"


TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def traced() -> CallContext:
    return replace(call(), traceparent=TRACEPARENT, tracestate="rojo=1")


async def test_an_action_gets_the_trace_context_as_parameters_over_the_payloads(provider):
    payload = {"n": 1, "traceparent": "the payload's own"}

    outcome = await provider.invoke(action("echo"), payload, traced())

    assert outcome.result == {"n": 1, "traceparent": TRACEPARENT, "tracestate": "rojo=1"}


async def test_a_web_action_gets_the_trace_context_as_headers(provider):
    target = action("echo", "web", headers={"Traceparent": "forged"})

    outcome = await provider.invoke(target, {"q": "x"}, traced())

    headers = outcome.result["__ow_headers"]
    assert (headers["traceparent"], headers["tracestate"]) == (TRACEPARENT, "rojo=1")


async def test_no_payload_sends_an_empty_object_and_a_non_object_is_refused(provider, ow):
    outcome = await provider.invoke(action("echo"), None, call())
    assert outcome.result == {}

    before = len(ow.server.requests)
    for payload in ([1, 2], "text", 3):
        with pytest.raises(InvalidRequest, match="JSON object"):
            await provider.invoke(action("echo"), payload, call())
    assert len(ow.server.requests) == before


async def test_packaged_and_fully_qualified_names(provider, ow):
    for name in ("tools/shout", "/guest/tools/shout"):
        outcome = await provider.invoke(action(name), {"word": "hey"}, call())
        assert outcome.result == {"word": "HEY"}
        assert outcome.info["action"] == "tools/shout"
        assert last_request(ow).path == f"{ACTIONS}/tools/shout"


async def test_names_are_checked_before_any_call(provider, ow):
    for name in ("a/b/c", "bad name ", "../echo", "/guest", "ech\u00f6", "//echo"):
        with pytest.raises(ValidationError, match="action"):  # the target's schema says so
            action(name)
    for namespace in ("guest", "other"):  # a /namespace/ name excludes the namespace field
        with pytest.raises(ValidationError, match="namespace"):
            action("/other/echo", namespace=namespace)
    with pytest.raises(InvalidRequest):  # the provider's own check, for its other callers
        provider.resolve("/other/echo", "guest", "action")
    assert ow.server.requests == []


async def test_every_name_the_schema_admits_is_one_the_provider_takes(provider):
    names = ["e", "_", "a b@c.d-", "pkg/echo", "/ns/echo", "/n s/p.k/e-@", "x" * 256]
    for name in names:
        for kind in ("action", "sequence", "web"):
            assert provider.resolve(action(name, kind).action, None, kind)
    for name in ("signup", "/ns/signup"):
        assert provider.resolve(action(name, "trigger").action, None, "trigger")


async def test_a_name_no_action_can_have_is_not_found(provider, ow):
    for name in ("a/b/c", "bad name ", "\u0097"):
        with pytest.raises(FunctionNotFound):
            await provider.get_function(name)
    assert ow.server.requests == []


async def test_the_targets_namespace_wins_over_the_default(provider, ow):
    outcome = await provider.invoke(action("echo", namespace="_"), {}, call())

    assert outcome.success and outcome.info["namespace"] == "_"
    assert last_request(ow).path == "/api/v1/namespaces/_/actions/echo"


async def test_sequence_runs_its_components(provider):
    outcome = await provider.invoke(action("greet-loudly", "sequence"), {"name": "ada"}, call())

    assert outcome.success and outcome.result == {"greeting": "HELLO, ADA!"}
    assert outcome.info["kind"] == "sequence"


async def test_application_error_is_a_failed_outcome_with_the_activations_error(provider, ow):
    outcome = await provider.invoke(action("fail"), {"error": "bad input"}, call())

    assert outcome.success is False and outcome.settled
    assert outcome.status_code == 502
    assert outcome.result == {"error": "bad input"}
    assert outcome.error == {
        "type": "ApplicationError",
        "message": "bad input",
        "activation_status": "application error",
    }
    assert ow.server.invocations_of("fail") == 1  # not retried


async def test_an_error_object_gives_its_message(provider):
    payload = {"error": {"message": "quota exceeded", "code": 42}}

    outcome = await provider.invoke(action("fail"), payload, call())

    assert outcome.error["message"] == "quota exceeded"
    assert outcome.result == payload


async def test_action_developer_error_is_a_failed_outcome(provider):
    outcome = await provider.invoke(action("crash"), {}, call())

    assert outcome.success is False and outcome.status_code == 502
    assert outcome.error["type"] == "ActionDeveloperError"
    assert "did not produce a valid response" in outcome.error["message"]


async def test_activation_that_outlives_the_wait_is_left_running_then_settled(provider, ow):
    outcome = await provider.invoke(action("slow"), {"sleep_ms": 600}, call(timeout_s=0.3))

    assert outcome.settled is False
    assert outcome.success is None and outcome.result is None and outcome.error is None
    assert outcome.status_code == 202
    activation_id = outcome.info["activation_id"]
    assert outcome.info == {
        "kind": "action",
        "namespace": "guest",
        "action": "slow",
        "activation_id": activation_id,
    }
    assert isinstance(provider, SettlingProvider)
    assert await provider.settle(running(outcome.info)) is None  # still running
    with pytest.raises(NotFound):
        await provider.get_activation(activation_id)

    await ow.server.ended(activation_id)
    settled = await provider.settle(running(outcome.info))

    assert settled is not None and settled.settled
    assert settled.success is True and settled.status_code == 200
    assert settled.result == {"slept_ms": 600}
    assert settled.info["activation_id"] == activation_id
    assert settled.info["duration_ms"] >= 600
    assert settled.info["status"] == "success"
    raw = await provider.get_activation(activation_id)
    assert raw["activationId"] == activation_id and raw["response"]["result"] == settled.result


async def test_settling_a_failed_activation_gives_its_error(provider, ow):
    outcome = await provider.invoke(
        action("fail"), {"sleep_ms": 300, "error": "late"}, call(timeout_s=0.2)
    )
    assert outcome.settled is False

    await ow.server.ended(outcome.info["activation_id"])
    settled = await provider.settle(running(outcome.info))

    assert settled.success is False and settled.status_code == 502
    assert settled.error["message"] == "late"


async def test_settle_needs_an_activation_id(provider, ow):
    assert await provider.settle(running({"kind": "action", "namespace": "guest"})) is None
    assert ow.server.requests == []


async def test_non_blocking_call_answers_at_once_with_the_activation_id(provider, ow):
    target = OpenWhiskTarget(provider="openwhisk", action="echo", blocking=False)

    outcome = await provider.invoke(target, {"a": 1}, call())

    assert outcome.settled is False and outcome.status_code == 202
    assert last_request(ow).query == {"blocking": "false"}
    await ow.server.ended(outcome.info["activation_id"])
    settled = await provider.settle(running(outcome.info))
    assert settled.success and settled.result == {"a": 1}


# refusals


async def test_an_answer_past_the_response_cap_is_refused(ow):
    ow.server.actions["big"] = Action("big", code=lambda params: {"blob": "x" * 10_000})
    capped = OpenWhiskProvider(
        ow.url, "guest", ow.server.auth_key, pool_size=1, max_response_bytes=4096
    )
    try:
        with pytest.raises(ResponseTooLarge):
            await capped.invoke(action("big"), {}, call())
        small = await capped.invoke(action("hello"), {"name": "Ada"}, call())
    finally:
        await capped.close()
        del ow.server.actions["big"]

    assert small.success is True


async def test_unknown_action_is_function_not_found(provider):
    with pytest.raises(FunctionNotFound, match="no OpenWhisk action nope in namespace guest"):
        await provider.invoke(action("nope"), {}, call())


async def test_another_namespace_is_forbidden(provider):
    with pytest.raises(Forbidden):
        await provider.invoke(action("echo", namespace="someone-else"), {}, call())


async def test_rejected_credentials_are_fnproxys_problem_not_the_callers(ow):
    wrong = OpenWhiskProvider(ow.url, "guest", "uuid:not-the-key", pool_size=1)
    try:
        with pytest.raises(UpstreamUnavailable, match="rejected fnproxy's credentials"):
            await wrong.invoke(action("echo"), {}, call())
    finally:
        await wrong.close()


async def test_throttling_is_transient_and_honours_retry_after(provider, ow):
    body = {"error": "Too many requests in the last minute (count: 61, allowed: 60)."}
    ow.server.answer_next(f"{ACTIONS}/echo", 429, body, {"Retry-After": "7"})

    with pytest.raises(TransientFailure) as raised:
        await provider.invoke(action("echo"), {}, call())

    assert raised.value.status_code == 429 and raised.value.retry_after_s == 7.0
    assert "Too many requests" in raised.value.reason
    assert (await provider.invoke(action("echo"), {"n": 1}, call())).result == {"n": 1}


@pytest.mark.parametrize("status", [500, 503, 504])
async def test_server_errors_are_transient(provider, ow, status):
    ow.server.answer_next(f"{ACTIONS}/echo", status, {"error": "down"})

    with pytest.raises(TransientFailure) as raised:
        await provider.invoke(action("echo"), {}, call())
    assert raised.value.status_code == status


async def test_502_without_an_activation_is_transient(provider, ow):
    ow.server.answer_next(f"{ACTIONS}/echo", 502, {"error": "bad gateway"})

    with pytest.raises(TransientFailure):
        await provider.invoke(action("echo"), {}, call())


async def test_408_is_running_with_an_activation_id_else_transient(provider, ow):
    ow.server.answer_next(f"{ACTIONS}/echo", 408, {"activationId": "abc123"})
    outcome = await provider.invoke(action("echo"), {}, call())
    assert outcome.settled is False and outcome.info["activation_id"] == "abc123"

    ow.server.answer_next(f"{ACTIONS}/echo", 408, {"error": "timeout"})
    with pytest.raises(TransientFailure):
        await provider.invoke(action("echo"), {}, call())


async def test_other_client_errors(provider, ow):
    ow.server.answer_next(f"{ACTIONS}/echo", 413, {"error": "too large"})
    with pytest.raises(PayloadTooLarge):
        await provider.invoke(action("echo"), {}, call())

    ow.server.answer_next(f"{ACTIONS}/echo", 400, {"error": "malformed"})
    with pytest.raises(InvalidRequest, match="malformed"):
        await provider.invoke(action("echo"), {}, call())


@pytest.mark.parametrize("fault", ["garbage", "truncated", "cut"])
async def test_a_connection_lost_after_sending_is_unreachable_not_transient(fault):
    faulty = FaultTarget().start()
    provider = OpenWhiskProvider(faulty.url(""), "_", "u:k", pool_size=1)
    try:
        with pytest.raises(UpstreamUnreachable, match="not retried"):
            await provider.invoke(action(fault), {}, call())
    finally:
        await provider.close()
        faulty.stop()

    assert sum(faulty.hits.values()) == 1


async def test_connection_refused_is_transient(ow):
    gone = OpenWhiskProvider(f"http://127.0.0.1:{free_port()}", "_", "u:k", pool_size=1)
    try:
        with pytest.raises(TransientFailure, match="unreachable"):
            await gone.invoke(action("echo"), {}, call())
    finally:
        await gone.close()


# triggers


async def test_firing_a_trigger_is_the_whole_job(provider, ow):
    outcome = await provider.invoke(action("signup", "trigger"), {"user": "ada"}, call())

    assert outcome.success is True and outcome.settled
    assert outcome.status_code == 202
    activation_id = outcome.info["activation_id"]
    assert ow.server.activations[activation_id]["response"]["result"] == {"user": "ada"}
    assert last_request(ow).path == "/api/v1/namespaces/guest/triggers/signup"
    assert outcome.info["kind"] == "trigger"


async def test_a_trigger_without_active_rules_answers_204(provider):
    outcome = await provider.invoke(action("quiet", "trigger"), {}, call())

    assert outcome.success is True and outcome.status_code == 204
    assert outcome.info["activation_id"] is None


async def test_unknown_or_packaged_triggers_are_refused(provider):
    with pytest.raises(FunctionNotFound, match="trigger"):
        await provider.invoke(action("nope", "trigger"), {}, call())
    with pytest.raises(ValidationError, match="trigger"):  # the target's schema says so
        action("pkg/signup", "trigger")


# web actions


async def test_web_action_gets_the_payload_and_no_credentials(provider, ow):
    outcome = await provider.invoke(action("echo", "web"), {"q": "x"}, call())

    assert outcome.success is True and outcome.status_code == 200
    assert outcome.result["q"] == "x" and outcome.result["__ow_method"] == "post"
    assert "authorization" not in outcome.result["__ow_headers"]
    assert outcome.result["__ow_headers"]["x-fnproxy-execution-id"] == "exec-1"
    sent = last_request(ow)
    assert sent.path == "/api/v1/web/guest/default/echo.json"
    assert "authorization" not in sent.headers
    assert outcome.info["activation_id"] in ow.server.activations
    assert outcome.info["response_headers"]["content-type"].startswith("application/json")


@pytest.mark.parametrize(
    ("kind", "fields"), [("action", {"method": "GET"}), ("sequence", {"headers": {"X-A": "1"}})]
)
def test_method_and_headers_are_for_web_actions_only(kind, fields):
    with pytest.raises(ValidationError, match="for web actions"):
        action("echo", kind, **fields)


async def test_web_action_error_is_the_functions_failure(provider):
    outcome = await provider.invoke(action("fail", "web"), {"error": "nope"}, call())

    assert outcome.success is False and outcome.status_code == 400
    assert outcome.error == {"type": "HttpError", "message": "HTTP 400: nope"}
    assert outcome.result["error"] == "nope"


async def test_only_web_exported_actions_answer_on_the_web(provider):
    with pytest.raises(FunctionNotFound):
        await provider.invoke(action("hello", "web"), {}, call())


async def test_web_action_not_ready_is_left_running_then_settled(provider, ow):
    ow.server.web_wait_s = 0.05

    outcome = await provider.invoke(action("slow", "web"), {"sleep_ms": 200}, call())

    assert outcome.settled is False and outcome.status_code == 202
    await ow.server.ended(outcome.info["activation_id"])
    settled = await provider.settle(running(outcome.info))
    assert settled.success and settled.result["slept_ms"] == 200


# listing, describing, dry runs


async def test_listing_pages_with_limit_and_skip(provider, ow):
    first = await provider.list_functions(limit=3, cursor=None)
    assert [f.name for f in first.items] == ["crash", "echo", "fail"]
    assert first.next_cursor == "3"
    assert last_request(ow).query == {"limit": "3", "skip": "0"}

    rest = await provider.list_functions(limit=3, cursor=first.next_cursor)
    assert [f.name for f in rest.items] == ["greet-loudly", "hello", "slow"]
    last = await provider.list_functions(limit=3, cursor=rest.next_cursor)
    assert [f.name for f in last.items] == ["tools/shout"]
    assert last.next_cursor is None


async def test_listed_actions_carry_the_seeds_fields(provider):
    page = await provider.list_functions(limit=50, cursor=None)
    by_name = {f.name: f for f in page.items}

    assert by_name["echo"].provider == "openwhisk"
    assert by_name["echo"].details == {
        "name": "echo",
        "namespace": "guest",
        "package": None,
        "version": "0.0.1",
        "published": False,
        "kind": "python:3",
        "web": True,
        "updated": 1767225600000,
    }
    assert by_name["tools/shout"].details["namespace"] == "guest"
    assert by_name["tools/shout"].details["package"] == "tools"


async def test_listing_limit_is_capped_at_openwhisks_maximum(provider, ow):
    page = await provider.list_functions(limit=1000, cursor=None)

    assert last_request(ow).query["limit"] == "200"
    assert page.next_cursor is None


async def test_listing_refuses_a_foreign_cursor(provider):
    with pytest.raises(CursorNotFound, match="cursor"):
        await provider.list_functions(limit=10, cursor="abc")


async def test_listing_when_throttled_or_down_answers_at_once(provider, ow):
    ow.server.answer_next(ACTIONS, 429, {"error": "slow down"}, {"Retry-After": "3"})
    with pytest.raises(RateLimited) as raised:
        await provider.list_functions(limit=10, cursor=None)
    assert raised.value.extra["retry_after_s"] == 3.0

    ow.server.answer_next(ACTIONS, 503, {"error": "down"})
    with pytest.raises(UpstreamUnavailable):
        await provider.list_functions(limit=10, cursor=None)


async def test_describing_an_action_shows_parameter_names_never_values(provider):
    info = await provider.get_function("hello")

    assert info.name == "hello"
    assert info.details["kind"] == "nodejs:20"
    assert info.details["parameters"] == ["api_token"]
    assert info.details["timeout_ms"] == 60000 and info.details["memory_mb"] == 256
    assert "bound-s3cret" not in repr(info)


async def test_describing_a_sequence_and_a_packaged_action(provider):
    sequence = await provider.get_function("greet-loudly")
    assert sequence.details["kind"] == "sequence"
    assert sequence.details["components"] == ["/guest/hello", "/guest/tools/shout"]

    packaged = await provider.get_function("tools/shout")
    assert packaged.name == "tools/shout" and packaged.details["package"] == "tools"


async def test_describing_an_unknown_action(provider):
    with pytest.raises(FunctionNotFound):
        await provider.get_function("nope")


async def test_dry_run_looks_the_target_up_and_runs_nothing(provider, ow):
    outcome = await provider.dry_run(action("echo"), {"a": 1}, call())

    assert outcome.success is True and outcome.status_code == 204
    assert outcome.info["payload_bytes"] == len(b'{"a":1}')
    assert [r.method for r in ow.server.requests] == ["GET"]
    assert ow.server.activations == {}

    trigger = await provider.dry_run(action("signup", "trigger"), {}, call())
    assert trigger.status_code == 204
    assert last_request(ow).path == "/api/v1/namespaces/guest/triggers/signup"


async def test_dry_run_refusals(provider, ow):
    with pytest.raises(FunctionNotFound):
        await provider.dry_run(action("nope"), {}, call())
    with pytest.raises(FunctionNotFound, match="not a web action"):
        await provider.dry_run(action("hello", "web"), {}, call())
    with pytest.raises(InvalidRequest):
        await provider.dry_run(action("echo"), [1], call())
    ow.server.answer_next(f"{ACTIONS}/echo", 503, {"error": "down"})
    with pytest.raises(UpstreamUnavailable):
        await provider.dry_run(action("echo"), {}, call())


async def test_activation_ids_are_checked(provider, ow):
    for impossible in ("../actions", "c\x1c", "a" * 65):  # names no activation: not found
        with pytest.raises(NotFound):
            await provider.get_activation(impossible)
    assert ow.server.requests == []
    with pytest.raises(NotFound):
        await provider.get_activation("0123456789abcdef0123456789abcdef")


def test_function_keys(ow):
    provider = OpenWhiskProvider(ow.url, "guest", ow.server.auth_key, pool_size=1)

    assert provider.function_key(action("echo")) == "openwhisk:guest/echo"
    assert provider.function_key(action("tools/shout", "sequence")) == "openwhisk:guest/tools/shout"
    assert provider.function_key(action("echo", "web", namespace="_")) == "openwhisk:_/echo"
    assert provider.function_key(action("signup", "trigger")) == "openwhisk:trigger:guest/signup"


# credentials and TLS


async def test_the_auth_key_never_shows(ow, caplog):
    caplog.set_level(logging.DEBUG)
    key = ow.server.auth_key
    encoded = base64.b64encode(key.encode()).decode()
    provider = OpenWhiskProvider(ow.url, "guest", key, pool_size=2)
    seen: list[str] = [repr(provider)]
    ow.server.answer_next(f"{ACTIONS}/echo", 503, {"error": "down"})
    try:
        for target in (action("echo"), action("nope"), action("fail"), action("echo", "web")):
            try:
                outcome = await provider.invoke(target, {}, call())
            except (FnproxyError, TransientFailure) as error:
                seen.append(f"{error} {getattr(error, 'extra', '')}")
            else:
                seen.append(repr(outcome))
        seen.append(repr(await provider.get_function("hello")))
        seen.append(repr(await provider.list_functions(limit=50, cursor=None)))
    finally:
        await provider.close()

    seen.append(caplog.text)
    secret = key.partition(":")[2]
    assert not any(secret in text or encoded in text for text in seen)


def test_configuration_is_checked_without_showing_the_key():
    with pytest.raises(ConfigError, match="OPENWHISK_API_HOST"):
        OpenWhiskProvider("", "_", "u:k", pool_size=1)
    with pytest.raises(ConfigError, match="OPENWHISK_AUTH_KEY") as raised:
        OpenWhiskProvider("https://ow.test", "_", "no-colon-secret", pool_size=1)
    assert "no-colon-secret" not in str(raised.value)


async def test_a_self_signed_certificate_needs_insecure(ow):
    strict = OpenWhiskProvider(ow.tls_url, "guest", ow.server.auth_key, pool_size=1)
    insecure = OpenWhiskProvider(
        ow.tls_url, "guest", ow.server.auth_key, pool_size=1, insecure=True
    )
    try:
        with pytest.raises(TransientFailure, match="CERTIFICATE_VERIFY_FAILED"):
            await strict.invoke(action("echo"), {}, call())
        outcome = await insecure.invoke(action("echo"), {"tls": True}, call())
        assert outcome.success and outcome.result == {"tls": True}
    finally:
        await strict.close()
        await insecure.close()


def test_a_bare_host_is_https():
    provider = OpenWhiskProvider("openwhisk.example.com/", "_", "u:k", pool_size=1)

    assert "https://openwhisk.example.com/api/v1" in repr(provider)


async def test_a_long_activation_comes_back_as_its_id_before_fnproxys_deadline(provider):
    started = time.monotonic()
    async with asyncio.timeout(1.0):
        outcome = await provider.invoke(action("slow"), {"sleep_ms": 3000}, call(timeout_s=1.0))
    assert outcome.settled is False
    assert time.monotonic() - started < 1.0
