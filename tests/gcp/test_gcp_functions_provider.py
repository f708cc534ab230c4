"""GcpFunctionsProvider: invocations against a real functions-framework server
(tests/fixtures/ff_functions.py); names resolved and functions listed through the Cloud Functions
v2 admin API served from recorded responses (tests/gcp/fixtures); Google credentials are fakes
with google-auth's interface (`refresh(request)`, `token`, `expiry`)."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import orjson
import pytest
from pydantic import ValidationError

from core.errors import (
    Forbidden,
    FunctionNotFound,
    InvalidRequest,
    RateLimited,
    UpstreamUnavailable,
)
from core.providers.base import CallContext, TransientFailure
from core.providers.gcp_functions import (
    ID_TOKEN_HOSTS,
    TOKEN_REFRESH_MARGIN_S,
    ExpiringCache,
    GcpFunctionsProvider,
    id_token_audience,
    is_id_token_url,
)
from core.targets import GcpFunctionsTarget
from tests.conftest import GCP_PROJECT, free_port
from tests.gcp.fixtures.functions_api import RecordedFunctionsApi, recorded
from tests.gcp.fixtures.google_identity import SIGNING_KEY, python_on_metadata

auth_exceptions = pytest.importorskip("google.auth.exceptions")

REGION = "us-central1"
ECHO = f"projects/{GCP_PROJECT}/locations/{REGION}/functions/echo"
ENV_VALUES = ("sk-live-9f8e7d6c5b4a", "hunter2-do-not-leak")
"""Environment variable values in the recorded functions: never in fnproxy's output."""
LOOPBACK_AUDIENCES = ("127.0.0.1", "localhost")
"""GCP_ID_TOKEN_AUDIENCES of the signing tests: the https front of functions-framework."""
METADATA_INVOKER = """
import asyncio, sys
from core.providers.base import CallContext
from core.providers.gcp_functions import GcpFunctionsProvider
from core.targets import GcpFunctionsTarget

async def main():
    provider = GcpFunctionsProvider(
        "demo-fnproxy", "us-central1", pool_size=2, id_token_hosts=("127.0.0.1",)
    )
    target = GcpFunctionsTarget(provider="gcp_functions", url=sys.argv[1])
    outcome = await provider.invoke(target, None, CallContext("exec-1", "tester", 10.0, 1))
    print(outcome.result["headers"]["authorization"])
    await provider.close()

asyncio.run(main())
"""


def utcnow() -> datetime:
    """google-auth's clock: naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


class FakeAccessCredentials:
    """Default credentials for the admin API: access-token-1, -2, ... an hour each."""

    def __init__(self) -> None:
        self.refreshes = 0
        self.token: str | None = None
        self.expiry: datetime | None = None

    def refresh(self, request: Any) -> None:
        self.refreshes += 1
        self.token = f"access-token-{self.refreshes}"
        self.expiry = utcnow() + timedelta(hours=1)


class FakeIdTokens:
    """audience -> credentials whose refresh signs a JWT for that audience (HS256: a fake of
    Google's RS256 token, with its claims); records every fetch (in the fetching thread)."""

    def __init__(self, lifetime_s: float = 3600.0, error: Exception | None = None) -> None:
        self.lifetime_s = lifetime_s
        self.error = error
        self.audiences: list[str] = []
        self.threads: set[str] = set()

    def __call__(self, audience: str) -> Any:
        return _FakeIdTokenCredentials(self, audience)

    @property
    def fetches(self) -> int:
        return len(self.audiences)


class _FakeIdTokenCredentials:
    def __init__(self, source: FakeIdTokens, audience: str) -> None:
        self.source = source
        self.audience = audience
        self.token: str | None = None
        self.expiry: datetime | None = None

    def refresh(self, request: Any) -> None:
        source = self.source
        source.threads.add(threading.current_thread().name)
        if source.error is not None:
            raise source.error
        source.audiences.append(self.audience)
        self.expiry = utcnow() + timedelta(seconds=source.lifetime_s)
        claims = {
            "iss": "https://accounts.google.com",
            "aud": self.audience,
            "sub": "104729384756102938475",
            "n": source.fetches,
            "exp": int(self.expiry.timestamp()),
        }
        self.token = jwt.encode(claims, SIGNING_KEY, algorithm="HS256")


def audience_of(authorization: str) -> str:
    token = authorization.removeprefix("Bearer ")
    return jwt.decode(token, options={"verify_signature": False})["aud"]


@pytest.fixture
def access() -> FakeAccessCredentials:
    return FakeAccessCredentials()


@pytest.fixture
def id_tokens() -> FakeIdTokens:
    return FakeIdTokens()


@pytest.fixture
async def provider(
    api: RecordedFunctionsApi, access: FakeAccessCredentials
) -> AsyncIterator[GcpFunctionsProvider]:
    """Sends no ID tokens (functions-framework checks none)."""
    provider = GcpFunctionsProvider(
        GCP_PROJECT, REGION, pool_size=8, api_url=api.url, id_tokens=False, credentials=access
    )
    yield provider
    await provider.close()


@pytest.fixture
async def signing(
    api: RecordedFunctionsApi, access: FakeAccessCredentials, id_tokens: FakeIdTokens
) -> AsyncIterator[GcpFunctionsProvider]:
    """Sends ID tokens from `id_tokens` to its functions' own URLs and to `tls_url`."""
    provider = GcpFunctionsProvider(
        GCP_PROJECT,
        REGION,
        pool_size=8,
        api_url=api.url,
        id_token_hosts=LOOPBACK_AUDIENCES,
        credentials=access,
        id_token_credentials=id_tokens,
    )
    yield provider
    await provider.close()


def call(timeout_s: float = 10.0) -> CallContext:
    return CallContext(execution_id="exec-1", caller="tester", timeout_s=timeout_s, attempt=1)


def by_url(url: str, **fields: Any) -> GcpFunctionsTarget:
    return GcpFunctionsTarget(provider="gcp_functions", url=url, **fields)


def by_name(function: str, **fields: Any) -> GcpFunctionsTarget:
    return GcpFunctionsTarget(provider="gcp_functions", function=function, **fields)


# --- by URL, against functions-framework ---------------------------------------------------


async def test_json_payload_and_result_round_trip(provider, ff_url):
    payload = {"name": "Ada", "tags": [1, 2.5, None, True]}

    outcome = await provider.invoke(by_url(f"{ff_url}/echo"), payload, call())

    assert outcome.success and outcome.status_code == 200
    assert outcome.result == payload
    outcome.info.pop("response_headers")
    assert outcome.info == {"url": f"{ff_url}/echo", "method": "POST"}


async def test_text_answer_is_the_result_and_any_method_goes(provider, ff_url):
    outcome = await provider.invoke(by_url(f"{ff_url}/text", method="get"), None, call())

    assert outcome.success and outcome.result == "plain hello"
    assert outcome.info["method"] == "GET"


async def test_a_404_answer_is_a_failed_outcome(provider, ff_url):
    outcome = await provider.invoke(by_url(f"{ff_url}/status/404"), None, call())

    assert not outcome.success and outcome.status_code == 404
    assert outcome.result == {"status": 404}


@pytest.mark.parametrize(("status", "retry_after"), [(429, "3"), (503, "0")])
async def test_throttling_and_unavailability_are_transient(provider, ff_url, status, retry_after):
    url = f"{ff_url}/status/{status}?retry_after={retry_after}"

    with pytest.raises(TransientFailure) as raised:
        await provider.invoke(by_url(url), None, call())

    assert raised.value.status_code == status
    assert raised.value.retry_after_s == float(retry_after)


async def test_no_id_token_when_they_are_off(provider, ff_url):
    outcome = await provider.invoke(by_url(f"{ff_url}/headers"), {"a": 1}, call())

    assert "authorization" not in outcome.result["headers"]
    assert outcome.result["headers"]["x-fnproxy-execution-id"] == "exec-1"


async def test_the_attempts_trace_context_reaches_the_function_as_headers(provider, ff_url):
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    context = replace(call(), traceparent=traceparent, tracestate="rojo=1")

    outcome = await provider.invoke(by_url(f"{ff_url}/headers"), {"a": 1}, context)

    headers = outcome.result["headers"]
    assert (headers["traceparent"], headers["tracestate"]) == (traceparent, "rojo=1")


async def test_id_token_is_sent_with_the_function_url_as_audience(signing, id_tokens, tls_url):
    outcome = await signing.invoke(by_url(f"{tls_url}/headers?page=2"), {"a": 1}, call())

    authorization = outcome.result["headers"]["authorization"]
    assert authorization.startswith("Bearer ")
    assert audience_of(authorization) == tls_url  # the service URL: no path, no query
    assert id_tokens.audiences == [tls_url]
    assert threading.main_thread().name not in id_tokens.threads  # fetched off the loop


@pytest.mark.parametrize(
    ("url", "signed"),
    [
        ("https://us-central1-demo-fnproxy.cloudfunctions.net/echo", True),
        ("https://echo-x7kq2pmxza-uc.a.run.app/api?x=1", True),
        ("https://Echo-X7KQ2PMXZA-uc.a.RUN.app./api", True),
        ("https://fn.internal.example.com:8443/run", True),  # GCP_ID_TOKEN_AUDIENCES
        ("https://example.com/fn", False),
        ("http://us-central1-demo-fnproxy.cloudfunctions.net/echo", False),
        ("http://echo-x7kq2pmxza-uc.a.run.app/", False),
        ("http://fn.internal.example.com/run", False),
        ("https://cloudfunctions.net/echo", False),
        ("https://x.cloudfunctions.net.example.com/echo", False),
        ("https://x.cloudfunctions.net@example.com/echo", False),
        ("https://example.com/x.cloudfunctions.net", False),
    ],
)
def test_id_tokens_go_only_to_https_cloud_functions_run_or_listed_hosts(url, signed):
    assert is_id_token_url(url, (*ID_TOKEN_HOSTS, "*.internal.example.com")) is signed


async def test_a_plain_url_gets_no_token_and_no_credentials_are_looked_up(
    signing, access, id_tokens, ff_url, tls_url
):
    unlisted = tls_url.replace("127.0.0.1", "localhost")
    provider = GcpFunctionsProvider(
        GCP_PROJECT, REGION, 2, credentials=access, id_token_credentials=id_tokens
    )

    over_http = await signing.invoke(by_url(f"{ff_url}/headers"), None, call())  # listed host
    not_listed = await provider.invoke(by_url(f"{unlisted}/headers"), None, call())
    await provider.close()

    for outcome in (over_http, not_listed):
        assert outcome.success
        assert "authorization" not in outcome.result["headers"]
        assert "x-serverless-authorization" not in outcome.result["headers"]
    assert id_tokens.fetches == 0 and access.refreshes == 0


async def test_gcp_id_token_audiences_reach_the_provider_through_the_wiring(
    google_identity, tls_url, tmp_path
):
    from core.wiring import provider_factories
    from tests.api.conftest import api_settings

    key = json.dumps(google_identity.service_account_key())
    answers = {}
    for audiences in ("127.0.0.1", ""):
        settings = api_settings(
            tmp_path, GCP_SERVICE_ACCOUNT_KEY=key, GCP_ID_TOKEN_AUDIENCES=audiences
        )
        provider = provider_factories(settings)["gcp_functions"]()
        outcome = await provider.invoke(by_url(f"{tls_url}/headers"), None, call())
        answers[audiences] = outcome.result["headers"]
        await provider.close()

    assert audience_of(answers["127.0.0.1"]["authorization"]) == tls_url
    assert "authorization" not in answers[""]
    assert google_identity.audiences == [tls_url]


def test_audience_is_the_service_url_or_the_cloudfunctions_function_url():
    run_app = "https://echo-x7kq2pmxza-uc.a.run.app"
    gen1_style = "https://us-central1-demo-fnproxy.cloudfunctions.net/echo"

    assert id_token_audience(f"{run_app}/api/items?x=1") == run_app
    assert id_token_audience(run_app) == run_app
    assert id_token_audience(f"{gen1_style}/sub/path?x=1") == gen1_style
    assert (
        id_token_audience("https://user:pw@fn.example.com:8443/a") == "https://fn.example.com:8443"
    )


async def test_the_targets_own_authorization_is_kept(signing, tls_url):
    target = by_url(f"{tls_url}/headers", headers={"Authorization": "Basic dXNlcjpwdw=="})

    outcome = await signing.invoke(target, None, call())

    headers = outcome.result["headers"]
    assert headers["authorization"] == "Basic dXNlcjpwdw=="
    assert audience_of(headers["x-serverless-authorization"]) == tls_url


async def test_one_token_fetch_serves_many_calls(signing, id_tokens, tls_url):
    target = by_url(f"{tls_url}/headers")

    answers = await asyncio.gather(*(signing.invoke(target, None, call()) for _ in range(10)))
    later = await signing.invoke(target, None, call())

    tokens = {outcome.result["headers"]["authorization"] for outcome in [*answers, later]}
    assert len(tokens) == 1
    assert id_tokens.fetches == 1


async def test_each_audience_has_its_own_token(signing, id_tokens, tls_url):
    other_host = tls_url.replace("127.0.0.1", "localhost")

    first = await signing.invoke(by_url(f"{tls_url}/headers"), None, call())
    second = await signing.invoke(by_url(f"{other_host}/headers"), None, call())

    assert audience_of(second.result["headers"]["authorization"]) == other_host
    assert first.result["headers"]["authorization"] != second.result["headers"]["authorization"]
    assert id_tokens.audiences == [tls_url, other_host]


async def test_a_token_near_its_expiry_is_replaced(signing, id_tokens, tls_url):
    id_tokens.lifetime_s = TOKEN_REFRESH_MARGIN_S + 0.5  # due for refresh in half a second
    target = by_url(f"{tls_url}/headers")

    first = await signing.invoke(target, None, call())
    second = await signing.invoke(target, None, call())
    await asyncio.sleep(0.6)
    third = await signing.invoke(target, None, call())

    tokens = [answer.result["headers"]["authorization"] for answer in (first, second, third)]
    assert id_tokens.fetches == 2
    assert tokens[0] == tokens[1] != tokens[2]


async def test_tokens_are_never_logged_recorded_or_in_errors(signing, tls_url, caplog):
    caplog.set_level(logging.DEBUG)

    ok = await signing.invoke(by_url(f"{tls_url}/headers"), None, call())
    failed = await signing.invoke(by_url(f"{tls_url}/status/403"), None, call())
    with pytest.raises(TransientFailure) as throttled:
        await signing.invoke(by_url(f"{tls_url}/status/429"), None, call())

    token = ok.result["headers"]["authorization"].removeprefix("Bearer ")
    for text in (caplog.text, repr(ok.info), repr(failed), str(throttled.value), repr(signing)):
        assert token not in text


async def test_google_unreachable_for_a_token_is_transient(api, access, tls_url):
    unreachable = FakeIdTokens(error=auth_exceptions.TransportError("metadata server timed out"))
    provider = GcpFunctionsProvider(
        GCP_PROJECT,
        REGION,
        2,
        api.url,
        id_token_hosts=LOOPBACK_AUDIENCES,
        credentials=access,
        id_token_credentials=unreachable,
    )

    with pytest.raises(TransientFailure, match="metadata server timed out"):
        await provider.invoke(by_url(f"{tls_url}/echo"), None, call())
    await provider.close()


async def test_a_refused_token_is_fnproxys_upstream_problem(api, access, tls_url):
    refusing = FakeIdTokens(error=auth_exceptions.RefreshError("invalid_grant: account disabled"))
    provider = GcpFunctionsProvider(
        GCP_PROJECT,
        REGION,
        2,
        api.url,
        id_token_hosts=LOOPBACK_AUDIENCES,
        credentials=access,
        id_token_credentials=refusing,
    )

    with pytest.raises(UpstreamUnavailable, match="invalid_grant: account disabled"):
        await provider.invoke(by_url(f"{tls_url}/echo"), None, call())
    await provider.close()


@pytest.mark.parametrize("given_as", ["json", "file"])
async def test_a_service_account_key_gets_tokens_through_google_auth(
    google_identity, tls_url, tmp_path, given_as
):
    key = json.dumps(google_identity.service_account_key())
    if given_as == "file":
        (tmp_path / "key.json").write_text(key)
        key = str(tmp_path / "key.json")
    provider = GcpFunctionsProvider(
        GCP_PROJECT, REGION, 2, service_account_key=key, id_token_hosts=LOOPBACK_AUDIENCES
    )

    outcome = await provider.invoke(by_url(f"{tls_url}/headers"), None, call())
    await provider.invoke(by_url(f"{tls_url}/echo"), None, call())
    await provider.close()

    assert audience_of(outcome.result["headers"]["authorization"]) == tls_url
    assert google_identity.audiences == [tls_url]  # the key's assertion asked for that audience


async def test_a_bad_service_account_key_is_reported_without_its_content(tls_url):
    provider = GcpFunctionsProvider(
        GCP_PROJECT, REGION, 2, service_account_key="{not json", id_token_hosts=LOOPBACK_AUDIENCES
    )

    with pytest.raises(UpstreamUnavailable, match="GCP_SERVICE_ACCOUNT_KEY") as raised:
        await provider.invoke(by_url(f"{tls_url}/echo"), None, call())
    await provider.close()

    assert "not json" not in str(raised.value)


async def test_without_a_key_the_metadata_server_gives_the_token(google_identity, tls_url):
    code, stdout, stderr = await python_on_metadata(
        google_identity, METADATA_INVOKER, f"{tls_url}/headers"
    )

    assert code == 0, stderr
    assert audience_of(stdout) == tls_url
    assert google_identity.audiences == [tls_url]


async def test_connection_refused_is_transient(provider):
    with pytest.raises(TransientFailure) as raised:
        await provider.invoke(by_url(f"http://127.0.0.1:{free_port()}/fn"), {"a": 1}, call())

    assert raised.value.status_code is None


# --- by name: the admin API resolves serviceConfig.uri ---------------------------------------


async def test_a_name_is_called_at_its_service_config_uri(signing, api, id_tokens, ff_url):
    payload = {"hello": "gen2"}

    outcome = await signing.invoke(by_name("echo"), payload, call())

    assert outcome.success and outcome.result == payload
    outcome.info.pop("response_headers")
    assert outcome.info == {"url": f"{ff_url}/echo", "method": "POST", "function": ECHO}
    assert api.paths == [f"/v2/{ECHO}"]
    assert api.requests[0].authorization == "Bearer access-token-1"
    assert id_tokens.audiences == [ff_url]
    # the recorded function's gen1-style `url` is not what was called
    gen1_url = recorded("get_echo")["url"]
    assert "cloudfunctions.net" in gen1_url
    assert outcome.info["url"] != gen1_url


async def test_the_resolved_url_serves_many_calls(provider, api, access):
    answers = await asyncio.gather(*(provider.invoke(by_name("echo"), i, call()) for i in range(8)))
    for i in range(3):
        await provider.invoke(by_name(ECHO), i, call())

    assert [outcome.result for outcome in answers] == list(range(8))
    assert api.paths == [f"/v2/{ECHO}"]
    assert access.refreshes == 1


async def test_a_404_from_the_function_drops_its_cached_url(provider, api):
    first = await provider.invoke(by_name("retired"), None, call())
    await provider.invoke(by_name("retired"), None, call())

    assert first.status_code == 404 and not first.success
    assert len(api.requests) == 2


async def test_an_unknown_function_is_not_found(provider, api):
    with pytest.raises(FunctionNotFound, match="functions/missing"):
        await provider.invoke(by_name("missing"), None, call())
    with pytest.raises(FunctionNotFound):
        await provider.get_function("missing")


async def test_a_function_without_a_url_cannot_be_called(provider):
    with pytest.raises(UpstreamUnavailable, match="state DEPLOYING"):
        await provider.invoke(by_name("deploying"), None, call())


async def test_admin_api_trouble_while_invoking_is_transient(provider, api):
    api.fail_next(503)
    with pytest.raises(TransientFailure) as unavailable:
        await provider.invoke(by_name("echo"), None, call())
    api.fail_next(429, retry_after="4")
    with pytest.raises(TransientFailure) as throttled:
        await provider.invoke(by_name("echo"), None, call())

    assert unavailable.value.status_code == 503
    assert (throttled.value.status_code, throttled.value.retry_after_s) == (429, 4.0)
    assert (await provider.invoke(by_name("echo"), {"ok": 1}, call())).result == {"ok": 1}


async def test_admin_api_refusals_when_describing(provider, api, access):
    api.fail_next(429, retry_after="4")
    with pytest.raises(RateLimited) as throttled:
        await provider.get_function("echo")
    api.fail_next(503)
    with pytest.raises(UpstreamUnavailable):
        await provider.get_function("echo")
    api.fail_next(403)
    with pytest.raises(Forbidden, match="PERMISSION_DENIED"):
        await provider.get_function("echo")
    api.fail_next(401)
    with pytest.raises(UpstreamUnavailable, match="UNAUTHENTICATED"):
        await provider.get_function("echo")

    assert throttled.value.extra["retry_after_s"] == 4.0
    await provider.get_function("echo")
    assert api.requests[-1].authorization == "Bearer access-token-2"  # renewed after the 401


async def test_dry_run_resolves_the_name_without_calling_or_signing(signing, api, id_tokens):
    outcome = await signing.dry_run(by_name("echo"), {"a": 1}, call())

    assert outcome.success and outcome.status_code == 204
    assert outcome.info["url"].endswith("/echo")
    assert outcome.info["function"] == ECHO
    assert api.paths == [f"/v2/{ECHO}"]
    assert id_tokens.fetches == 0


async def test_dry_run_of_an_unknown_name_or_a_down_api(provider, api):
    with pytest.raises(FunctionNotFound):
        await provider.dry_run(by_name("missing"), None, call())
    api.fail_next(503)
    with pytest.raises(UpstreamUnavailable):
        await provider.dry_run(by_name("echo"), None, call())


async def test_dry_run_by_url_sends_nothing(provider):
    nowhere = by_url(f"http://127.0.0.1:{free_port()}/fn", method="PUT")

    outcome = await provider.dry_run(nowhere, {"a": 1}, call())

    assert outcome.success and outcome.status_code == 204
    assert outcome.info["url"] == nowhere.url


# --- listing and details -------------------------------------------------------------------


async def test_list_functions_follows_page_tokens(provider, api):
    first = await provider.list_functions(limit=2, cursor=None)
    second = await provider.list_functions(limit=2, cursor=first.next_cursor)

    assert [info.name for info in first.items] == ["echo", "resize-image"]
    assert first.next_cursor == recorded("list_page_1")["nextPageToken"]
    assert [info.name for info in second.items] == ["nightly-report"]
    assert second.next_cursor is None
    parent = f"/v2/projects/{GCP_PROJECT}/locations/{REGION}/functions"
    assert api.paths == [parent, parent]
    assert api.requests[0].query == {"pageSize": "2"}
    assert api.requests[1].query == {"pageSize": "2", "pageToken": first.next_cursor}
    assert all(request.authorization == "Bearer access-token-1" for request in api.requests)


async def test_a_bad_cursor_is_the_callers_mistake(provider):
    with pytest.raises(InvalidRequest, match="INVALID_ARGUMENT"):
        await provider.list_functions(limit=2, cursor="not-a-page-token")


async def test_details_name_environment_variables_but_never_their_values(provider, ff_url):
    info = await provider.get_function("echo")

    assert info.name == "echo" and info.provider == "gcp_functions"
    assert info.details == {
        "name": "echo",
        "resource_name": ECHO,
        "state": "ACTIVE",
        "description": "Echoes the JSON body it is sent",
        "environment": "GEN_2",
        "runtime": "python312",
        "entry_point": "echo",
        "url": f"{ff_url}/echo",
        "timeout_s": 60,
        "memory": "256M",
        "service_account": "123456789012-compute@developer.gserviceaccount.com",
        "environment_variables": ["LOG_EXECUTION_ID", "UPSTREAM_API_KEY"],
        "update_time": "2024-06-10T14:51:02.346931522Z",
    }
    listed = await provider.list_functions(limit=2, cursor=None)
    output = orjson.dumps([info.details, *(item.details for item in listed.items)]).decode()
    assert all(value not in output for value in ENV_VALUES)
    assert listed.items[1].details["environment_variables"] == ["BUCKET", "DB_PASSWORD"]


async def test_get_function_takes_a_full_resource_name(provider, api):
    info = await provider.get_function(ECHO)

    assert info.details["resource_name"] == ECHO
    assert api.paths == [f"/v2/{ECHO}"]


# --- function keys and names ---------------------------------------------------------------


def test_function_keys():
    provider = GcpFunctionsProvider(GCP_PROJECT, REGION, pool_size=1)

    assert provider.function_key(by_name("echo")) == "gcp_functions:echo"
    assert provider.function_key(by_name(ECHO)) == "gcp_functions:echo"
    assert provider.function_key(by_name("echo", project=GCP_PROJECT)) == "gcp_functions:echo"
    assert (
        provider.function_key(by_name("echo", region="europe-west1"))
        == f"gcp_functions:{GCP_PROJECT}/europe-west1/echo"
    )
    url = "https://user:pw@Echo-X7kq2pmxza-uc.a.run.app/api/run?key=secret"
    assert (
        provider.function_key(by_url(url)) == "gcp_functions:echo-x7kq2pmxza-uc.a.run.app/api/run"
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"function": "../../secrets"},
        {"function": "echo", "project": "Not A Project"},
        {"function": "echo", "region": "us-central1/../x"},
        {"function": "0"},
        {"url": "ftp://x"},
        {},
        {"function": "echo", "url": "https://fn.example/"},
    ],
)
def test_what_the_schema_refuses_is_a_field_error(fields):
    with pytest.raises(ValidationError):  # 422 naming the field; the document states each rule
        GcpFunctionsTarget(provider="gcp_functions", **fields)


async def test_a_name_no_function_can_have_is_not_found():
    provider = GcpFunctionsProvider(GCP_PROJECT, REGION, pool_size=1)
    for name in ("0" * 128, "0", "projects/p/locations/r/functions/x"):
        with pytest.raises(FunctionNotFound):
            await provider.get_function(name)


@pytest.mark.parametrize(
    "fields",
    [
        {"function": ECHO, "region": "europe-west1"},  # the resource name names its region
        {"function": ECHO, "region": REGION},  # also when they agree: the document says so
        {"function": ECHO, "project": GCP_PROJECT},
        {"url": "http://:8080/fn"},  # no host
    ],
)
def test_malformed_or_contradictory_targets_are_field_errors(fields):
    with pytest.raises(ValidationError):
        GcpFunctionsTarget(provider="gcp_functions", **fields)


def test_the_provider_still_refuses_a_contradictory_resolve():
    provider = GcpFunctionsProvider(GCP_PROJECT, REGION, pool_size=1)

    with pytest.raises(InvalidRequest, match="names region"):
        provider.resolve(ECHO, None, "europe-west1")


async def test_a_name_needs_a_project():
    provider = GcpFunctionsProvider("", REGION, pool_size=1)

    with pytest.raises(InvalidRequest, match="GCP_PROJECT_ID"):
        provider.function_key(by_name("echo"))
    with pytest.raises(InvalidRequest, match="GCP_PROJECT_ID"):
        await provider.list_functions(limit=10, cursor=None)
    assert provider.function_key(by_name("echo", project="other-project")) == (
        f"gcp_functions:other-project/{REGION}/echo"
    )


# --- the cache -----------------------------------------------------------------------------


async def test_the_cache_is_bounded_and_loads_once_per_key():
    cache: ExpiringCache[str] = ExpiringCache(max_entries=2)
    loads: list[str] = []

    def loader(key: str):
        async def load() -> tuple[str, float]:
            loads.append(key)
            await asyncio.sleep(0.01)
            return key.upper(), float("inf")

        return load

    assert await asyncio.gather(*(cache.get("a", loader("a")) for _ in range(5))) == ["A"] * 5
    await cache.get("b", loader("b"))
    await cache.get("c", loader("c"))  # "a" goes
    await cache.get("c", loader("c"))
    await cache.get("a", loader("a"))

    assert loads == ["a", "b", "c", "a"]
