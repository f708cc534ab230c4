"""The `gcp_functions` provider: Cloud Functions (2nd gen, Cloud Run functions) over HTTPS.

A target is a function's URL, or its name (`function`; `project` and `region` default to the
provider's; a full resource name `projects/P/locations/R/functions/F` works too). A name is
resolved to the function's own URL, `serviceConfig.uri`, through the Cloud Functions v2 REST API
(`GET {api_url}/projects/P/locations/R/functions/F`, with an OAuth2 access token of fnproxy's
credentials), cached for `URL_TTL_S`. Gen1-style URLs
(`https://REGION-PROJECT.cloudfunctions.net/NAME`) are never built. A 404 from the function or a
connection failure drops the cached URL: the next attempt resolves the name again.

The call itself is the http provider's: body rules, redirects, 429/502/503/504 and connection
failures transient (Retry-After honoured), any other non-2xx answer the function's failure. A
call to Google carries a Google-signed ID token, `Authorization: Bearer ...`
(`X-Serverless-Authorization` when the target sends its own Authorization, which Cloud Run then
passes to the function untouched). Google is a function's own URL (resolved by name), or an
`https` URL on a Cloud Functions or Cloud Run host (`ID_TOKEN_HOSTS`) or on a host matching a glob
of GCP_ID_TOKEN_AUDIENCES (`id_token_hosts`). Any other URL, and every `http` URL, is a plain
call: no token, no credentials looked up.
The token's audience is the function's URL as Google defines it: `scheme://host` (a Cloud Run
service URL), or `scheme://host/NAME` on a `cloudfunctions.net` host; never a query.

fnproxy's Google identity, for both kinds of token: the service account of GCP_SERVICE_ACCOUNT_KEY
(a key's JSON or its file) when set, else the application default credentials (on Google Cloud:
the metadata server). With GCP_SERVICE_ACCOUNT_EMAIL set, that identity impersonates the account
through the IAM Credentials API (it needs the Service Account Token Creator role on it): the admin
API's access tokens come from `generateAccessToken`, ID tokens from `generateIdToken`. Access
tokens have the cloud-platform scope. Tokens are cached (ID tokens per audience) until
`TOKEN_REFRESH_MARGIN_S` before they expire, fetched in a thread, once however many calls wait
for them, and never logged, recorded or put in an error message. `id_tokens=False` sends no ID
token (local, emulated functions).

google-auth is imported on the first token fetch, in the fetching thread: its ~0.2 s import stays
off the event loop and out of a cold start that never needs a token.

`function_key`: `gcp_functions:<function>` for a function of the default project and region,
`gcp_functions:<project>/<region>/<function>` otherwise; `gcp_functions:<host><path>` by URL.

The admin API's refusals: 404 is `FunctionNotFound`; 403 `Forbidden` (fnproxy's identity lacks
the permission, or may not even see whether the function exists); 401 `UpstreamUnavailable`
(Google rejected fnproxy's own credentials: not the caller's mistake); 400 `InvalidRequest`;
429 and 5xx are transient when invoking (retried) and `RateLimited` / `UpstreamUnavailable` when
listing or describing (nobody retries those).
"""

from __future__ import annotations

import asyncio
import functools
import re
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any, Generic, TypeVar
from urllib.parse import SplitResult, urlencode, urlsplit

import orjson

from core.errors import (
    Forbidden,
    FunctionNotFound,
    InvalidRequest,
    UpstreamUnavailable,
)
from core.gcp_credentials import (
    CLOUD_PLATFORM_SCOPE,
    default_credentials,
    key_credentials,
    service_account_info,
)
from core.models import Page
from core.providers._http_client import HttpClient, HttpConnectionError, HttpResponse
from core.providers.base import (
    CallContext,
    FunctionInfo,
    InvocationOutcome,
    TransientFailure,
    answered_at_once,
)
from core.providers.http import HttpProvider, retry_after_seconds
from core.targets import (
    GCP_FUNCTION_ID,
    GCP_PROJECT_ID,
    GCP_REGION,
    GcpFunctionsTarget,
    HttpTarget,
)

DEFAULT_API_URL = "https://cloudfunctions.googleapis.com/v2"
URL_TTL_S = 300.0
"""How long a function's resolved URL is reused before the API is asked again."""
TOKEN_REFRESH_MARGIN_S = 300.0
"""A token is replaced this long before it expires."""
UNKNOWN_EXPIRY_LIFETIME_S = 3600.0
"""Taken for a token whose credentials give no expiry (Google's tokens last an hour)."""
MAX_CACHED = 1024
"""URLs and ID tokens kept at most (targets come from callers: the caches must be bounded)."""
ADMIN_TIMEOUT_S = 30.0
"""Per admin API request when listing or describing (an invocation has its own deadline)."""
SERVERLESS_AUTHORIZATION = "X-Serverless-Authorization"
ID_TOKEN_HOSTS = ("*.cloudfunctions.net", "*.run.app")
"""Cloud Functions and Cloud Run hosts: an https URL there is given an ID token."""
AUTH_ERROR_MAX_CHARS = 200

_RESOURCE = re.compile(
    r"projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)/functions/(?P<function>[^/]+)"
)
# The rules the targets' schema states (core.targets), so the two cannot drift.
_FUNCTION_ID = re.compile(GCP_FUNCTION_ID)
_PROJECT_ID = re.compile(GCP_PROJECT_ID)
_REGION = re.compile(GCP_REGION)

V = TypeVar("V")
ADMIN_API = "the Cloud Functions API"
CredentialsFactory = Callable[[str], Any]
"""audience -> google-auth credentials (`refresh(request)`, `token`, `expiry`) for ID tokens."""


@dataclass(frozen=True)
class FunctionRef:
    project: str
    region: str
    function: str

    @property
    def resource(self) -> str:
        return f"projects/{self.project}/locations/{self.region}/functions/{self.function}"


class ExpiringCache(Generic[V]):
    """Values by key until each one's own expiry. A missing or expired value is loaded once
    however many callers wait for it; at most `max_entries` are kept (the oldest go first)."""

    def __init__(self, max_entries: int = MAX_CACHED) -> None:
        self._max_entries = max_entries
        self._entries: dict[str, tuple[V, float]] = {}
        self._loading: dict[str, asyncio.Future[V]] = {}

    async def get(self, key: str, load: Callable[[], Awaitable[tuple[V, float]]]) -> V:
        """The cached value, else `load()`'s `(value, monotonic time it expires)`. A caller
        that gives up (cancelled) does not cancel the load others wait for."""
        entry = self._entries.get(key)
        if entry is not None and entry[1] > time.monotonic():
            return entry[0]
        loading = self._loading.get(key)
        if loading is None:
            loading = self._loading[key] = asyncio.ensure_future(self._load(key, load))
            loading.add_done_callback(_retrieve)
        return await asyncio.shield(loading)

    def drop(self, key: str) -> None:
        self._entries.pop(key, None)

    async def _load(self, key: str, load: Callable[[], Awaitable[tuple[V, float]]]) -> V:
        try:
            value, expires_at = await load()
        finally:
            del self._loading[key]
        self._entries.pop(key, None)
        if len(self._entries) >= self._max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (value, expires_at)
        return value


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a failure as seen even when every waiter gave up before it came."""
    if not future.cancelled():
        future.exception()


class _AuthFailure(Exception):
    """google-auth could not give a token; `transient` when it could not reach Google."""

    def __init__(self, reason: str, transient: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


class GcpFunctionsProvider:
    name = "gcp_functions"

    def __init__(
        self,
        project: str,
        region: str,
        pool_size: int,
        api_url: str = DEFAULT_API_URL,
        id_tokens: bool = True,
        service_account_key: str = "",
        service_account_email: str = "",
        id_token_hosts: tuple[str, ...] = (),
        *,
        credentials: Any = None,
        id_token_credentials: CredentialsFactory | None = None,
        http: HttpProvider | None = None,
    ) -> None:
        """`id_token_hosts`: host globs given ID tokens besides `ID_TOKEN_HOSTS`
        (GCP_ID_TOKEN_AUDIENCES). `credentials` (google-auth credentials for the admin API,
        default: `_google_credentials`) and `id_token_credentials` (audience -> ID token
        credentials, default: `_default_id_token_credentials`) are for tests and injection.
        `http` makes the calls (wiring gives it the egress policy)."""
        self._project = project
        self._region = region
        self._pool_size = pool_size
        self._api_url = api_url.rstrip("/")
        self._id_tokens = id_tokens
        self._id_token_hosts = tuple(glob.lower() for glob in ID_TOKEN_HOSTS + id_token_hosts)
        self._service_account_key = service_account_key
        self._service_account_email = service_account_email
        self._credentials = credentials
        self._id_token_credentials = id_token_credentials or self._default_id_token_credentials
        self._credentials_lock = threading.Lock()
        self._http = http or HttpProvider(pool_size)
        self._admin: HttpClient | None = None
        self._urls: ExpiringCache[str] = ExpiringCache()
        self._tokens: ExpiringCache[str] = ExpiringCache()
        self._access_tokens: ExpiringCache[str] = ExpiringCache(max_entries=1)

    def __repr__(self) -> str:
        return f"GcpFunctionsProvider(project={self._project!r}, region={self._region!r})"

    def function_key(self, target: GcpFunctionsTarget) -> str:
        if target.url is not None:
            parts = _split(target.url)
            return f"gcp_functions:{_host(parts).lower()}{parts.path or '/'}"
        ref = self.resolve(target.function, target.project, target.region)
        if (ref.project, ref.region) == (self._project, self._region):
            return f"gcp_functions:{ref.function}"
        return f"gcp_functions:{ref.project}/{ref.region}/{ref.function}"

    async def invoke(
        self, target: GcpFunctionsTarget, payload: Any, context: CallContext
    ) -> InvocationOutcome:
        ref, url = await self._locate(target, context.timeout_s)
        headers = dict(target.headers)
        if self._wants_id_token(ref, url):
            headers = _with_id_token(headers, await self._id_token(id_token_audience(url)))
        try:
            outcome = await self._http.invoke(_http_target(target, url, headers), payload, context)
        except TransientFailure as failure:
            if ref is not None and failure.status_code is None:  # unreachable: a stale URL?
                self._urls.drop(ref.resource)
            raise
        if ref is not None:
            outcome.info["function"] = ref.resource
            if outcome.status_code == 404:
                self._urls.drop(ref.resource)
        return outcome

    async def dry_run(
        self, target: GcpFunctionsTarget, payload: Any, context: CallContext
    ) -> InvocationOutcome:
        """The URL resolved (by name: through the admin API) and the body checked; the
        function is not called and no token is fetched."""
        ref, url = await answered_at_once(self._locate(target, context.timeout_s), ADMIN_API)
        http_target = _http_target(target, url, dict(target.headers))
        outcome = await self._http.dry_run(http_target, payload, context)
        if ref is not None:
            outcome.info["function"] = ref.resource
        return outcome

    async def list_functions(
        self,
        limit: int,
        cursor: str | None,
        project: str | None = None,
        region: str | None = None,
    ) -> Page[FunctionInfo]:
        """The functions of the default location, or of another `project`/`region`."""
        query: dict[str, Any] = {"pageSize": limit}
        if cursor:
            query["pageToken"] = cursor
        parent = self._location(project or self._project, region or self._region)
        subject = f"Cloud Functions of {parent}"
        listing = await answered_at_once(
            self._api_get(f"{parent}/functions", subject, ADMIN_TIMEOUT_S, query),
            ADMIN_API,
        )
        items = [_function_info(function) for function in listing.get("functions", [])]
        return Page(items=items, next_cursor=listing.get("nextPageToken") or None)

    @staticmethod
    def _location(project: str, region: str) -> str:
        if not project:
            raise InvalidRequest("no GCP project to list: set GCP_PROJECT_ID")
        for value, pattern, what in (
            (project, _PROJECT_ID, "project"),
            (region, _REGION, "region"),
        ):
            if not pattern.fullmatch(value):
                raise InvalidRequest(f"{value!r} is not a GCP {what}")
        return f"projects/{project}/locations/{region}"

    async def get_function(self, name: str) -> FunctionInfo:
        """`FunctionNotFound` for a name no function can have, too: it names none (without
        a project to look in, the deployment's `InvalidRequest` stays)."""
        try:
            ref = self.resolve(name, None, None)
        except InvalidRequest:
            if not self._project and _RESOURCE.fullmatch(name) is None:
                raise
            raise FunctionNotFound(f"no Cloud Function {name[:256]!r}") from None
        subject = f"Cloud Function {ref.resource}"
        return _function_info(
            await answered_at_once(self._api_get(ref.resource, subject, ADMIN_TIMEOUT_S), ADMIN_API)
        )

    async def close(self) -> None:
        await self._http.close()
        if self._admin is not None:
            self._admin.close()
            self._admin = None

    def resolve(self, function: str, project: str | None, region: str | None) -> FunctionRef:
        """A function name or resource name with the target's project and region, else the
        provider's; `InvalidRequest` when malformed, missing or contradictory."""
        match = _RESOURCE.fullmatch(function)
        if match is not None:
            function = match["function"]
            project = _agreed("project", match["project"], project)
            region = _agreed("region", match["region"], region)
        project = project or self._project
        region = region or self._region
        if not project:
            raise InvalidRequest("no GCP project: set GCP_PROJECT_ID or the target's project")
        _check(_FUNCTION_ID, function, "a Cloud Functions function name")
        _check(_PROJECT_ID, project, "a GCP project id")
        _check(_REGION, region, "a GCP region")
        return FunctionRef(project, region, function)

    async def _locate(
        self, target: GcpFunctionsTarget, timeout_s: float
    ) -> tuple[FunctionRef | None, str]:
        """(the function's reference, or None for a URL target; the URL to call)."""
        if target.url is not None:
            return None, target.url
        ref = self.resolve(target.function, target.project, target.region)
        url = await self._urls.get(ref.resource, lambda: self._fetch_url(ref, timeout_s))
        return ref, url

    def _wants_id_token(self, ref: FunctionRef | None, url: str) -> bool:
        """Whether the call goes to Google: a function's own URL (`ref`, resolved through the
        admin API), or an https URL on a host of `_id_token_hosts`."""
        if not self._id_tokens:
            return False
        return ref is not None or is_id_token_url(url, self._id_token_hosts)

    async def _fetch_url(self, ref: FunctionRef, timeout_s: float) -> tuple[str, float]:
        subject = f"Cloud Function {ref.resource}"
        function = await self._api_get(ref.resource, subject, timeout_s)
        url = (function.get("serviceConfig") or {}).get("uri")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            state = function.get("state", "STATE_UNSPECIFIED")
            raise UpstreamUnavailable(f"{subject} has no URL to call (state {state})")
        return url, time.monotonic() + URL_TTL_S

    async def _api_get(
        self, path: str, subject: str, timeout_s: float, query: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """One GET of the admin API: its JSON answer, or the refusal as an exception."""
        url = f"{self._api_url}/{path}"
        if query:
            url = f"{url}?{urlencode(query)}"
        headers = {"Authorization": f"Bearer {await self._access_token()}"}
        if self._admin is None:
            self._admin = HttpClient(self._pool_size)
        try:
            response = await self._admin.request("GET", url, headers, None, timeout_s)
        except HttpConnectionError as exc:
            raise TransientFailure(f"the Cloud Functions API is unreachable: {exc}") from exc
        if response.status == 200:
            return _json_object(response, subject)
        if response.status == 401:  # revoked or expired early: the next call gets a new one
            self._access_tokens.drop("")
        raise _api_refusal(response, subject)

    async def _access_token(self) -> str:
        """An OAuth2 access token for Google APIs (cached until near its expiry)."""
        return await self._access_tokens.get(
            "", lambda: _refreshed(self._admin_credentials, "an access token")
        )

    async def _id_token(self, audience: str) -> str:
        """A Google-signed ID token for `audience` (cached until near its expiry)."""
        make = functools.partial(self._id_token_credentials, audience)
        return await self._tokens.get(audience, lambda: _refreshed(make, "an ID token"))

    def _admin_credentials(self) -> Any:
        """The credentials for the admin API (blocking: made once)."""
        with self._credentials_lock:
            if self._credentials is None:
                self._credentials = self._google_credentials()
            return self._credentials

    def _google_credentials(self) -> Any:
        """fnproxy's own credentials (the key's, else the default ones), impersonating
        GCP_SERVICE_ACCOUNT_EMAIL when it is set."""
        own = key_credentials(self._service_account_key) or default_credentials()
        if not self._service_account_email:
            return own
        from google.auth import impersonated_credentials

        return impersonated_credentials.Credentials(
            source_credentials=own,
            target_principal=self._service_account_email,
            target_scopes=[CLOUD_PLATFORM_SCOPE],
        )

    def _default_id_token_credentials(self, audience: str) -> Any:
        """ID token credentials for `audience` (blocking): the impersonated account's, else the
        key's, else the default ones (the metadata server's)."""
        if self._service_account_email:
            from google.auth import impersonated_credentials

            return impersonated_credentials.IDTokenCredentials(
                self._admin_credentials(), target_audience=audience, include_email=True
            )
        if self._service_account_key:
            from google.oauth2 import service_account

            info = service_account_info(self._service_account_key)
            return service_account.IDTokenCredentials.from_service_account_info(
                info, target_audience=audience
            )
        from google.oauth2 import id_token

        return id_token.fetch_id_token_credentials(audience, request=_auth_request())


async def _refreshed(make_credentials: Callable[[], Any], what: str) -> tuple[str, float]:
    """`(token, monotonic time to replace it)` of credentials made and refreshed in a thread.
    Raises `TransientFailure` when Google cannot be reached, else `UpstreamUnavailable`."""
    try:
        token, expiry = await asyncio.to_thread(_refresh_blocking, make_credentials)
    except _AuthFailure as failure:
        reason = f"fnproxy could not get {what} from Google: {failure.reason}"
        if failure.transient:
            raise TransientFailure(reason) from None
        raise UpstreamUnavailable(reason) from None
    return token, time.monotonic() + _seconds_left(expiry) - TOKEN_REFRESH_MARGIN_S


def _refresh_blocking(make_credentials: Callable[[], Any]) -> tuple[str, datetime | None]:
    from google.auth import exceptions

    try:
        credentials = make_credentials()
        credentials.refresh(_auth_request())
    except exceptions.TransportError as error:
        raise _AuthFailure(_auth_reason(error), transient=True) from None
    except (exceptions.GoogleAuthError, OSError, ValueError) as error:
        raise _AuthFailure(_auth_reason(error), transient=False) from None
    return credentials.token, credentials.expiry


def _auth_reason(error: Exception) -> str:
    """The error's kind and first argument (Google's error text: never a token), capped."""
    detail = error.args[0] if error.args and isinstance(error.args[0], str) else ""
    reason = f"{type(error).__name__}: {detail}" if detail else type(error).__name__
    return reason[:AUTH_ERROR_MAX_CHARS]


@functools.cache
def _auth_request() -> Any:
    """google-auth's HTTP transport, one per process (created in a worker thread)."""
    import google.auth.transport.requests

    return google.auth.transport.requests.Request()


def _seconds_left(expiry: datetime | None) -> float:
    if expiry is None:
        return UNKNOWN_EXPIRY_LIFETIME_S
    if expiry.tzinfo is None:  # google-auth keeps naive UTC times
        expiry = expiry.replace(tzinfo=UTC)
    return (expiry - datetime.now(UTC)).total_seconds()


def _api_refusal(response: HttpResponse, subject: str) -> Exception:
    status = response.status
    message = _api_message(response)
    if status == 429 or status >= 500:
        retry_after_s = retry_after_seconds(response.headers.get("retry-after"))
        reason = f"{subject}: the Cloud Functions API answered {status} ({message})"
        return TransientFailure(reason, status_code=status, retry_after_s=retry_after_s)
    if status == 404:
        return FunctionNotFound(f"no {subject}")
    if status == 403:
        return Forbidden(f"fnproxy's Google identity may not read {subject}: {message}")
    if status == 401:
        return UpstreamUnavailable(f"Google rejected fnproxy's credentials ({message})")
    if status == 400:
        return InvalidRequest(f"{subject}: {message}")
    return UpstreamUnavailable(f"{subject}: the Cloud Functions API answered {status} ({message})")


def _api_message(response: HttpResponse) -> str:
    """Google's `{"error": {"code", "message", "status"}}` as `STATUS: message`."""
    try:
        error = orjson.loads(response.body).get("error") or {}
        return f"{error.get('status', response.status)}: {error['message']}"
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError):
        return f"HTTP {response.status}"


def _json_object(response: HttpResponse, subject: str) -> dict[str, Any]:
    try:
        body = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise UpstreamUnavailable(f"{subject}: the Cloud Functions API answered no JSON object")
    return body


def _function_info(function: dict[str, Any]) -> FunctionInfo:
    """A v2 Function resource's details; environment variable names only, never values."""
    build = function.get("buildConfig") or {}
    service = function.get("serviceConfig") or {}
    resource_name = function.get("name", "")
    short_name = resource_name.rpartition("/")[2]
    details = {
        "name": short_name,
        "resource_name": resource_name,
        "state": function.get("state"),
        "description": function.get("description"),
        "environment": function.get("environment"),
        "runtime": build.get("runtime"),
        "entry_point": build.get("entryPoint"),
        "url": service.get("uri"),
        "timeout_s": service.get("timeoutSeconds"),
        "memory": service.get("availableMemory"),
        "service_account": service.get("serviceAccountEmail"),
        "environment_variables": sorted(service.get("environmentVariables") or {}),
        "update_time": function.get("updateTime"),
    }
    return FunctionInfo(name=short_name, provider="gcp_functions", details=details)


def _http_target(target: GcpFunctionsTarget, url: str, headers: dict[str, str]) -> HttpTarget:
    """The call as an http target. Built without validation: the URL and method were
    validated as the GCP target's (any method name is allowed there) or come from Google."""
    return HttpTarget.model_construct(
        provider="http", url=url, method=target.method.upper(), headers=headers
    )


def _with_id_token(headers: dict[str, str], token: str) -> dict[str, str]:
    """The token as `Authorization`, or as `X-Serverless-Authorization` when the target has
    an Authorization of its own (Cloud Run checks the latter and forwards the former)."""
    has_own = any(name.lower() == "authorization" for name in headers)
    header = SERVERLESS_AUTHORIZATION if has_own else "Authorization"
    headers = {name: value for name, value in headers.items() if name.lower() != header.lower()}
    headers[header] = f"Bearer {token}"
    return headers


def is_id_token_url(url: str, host_globs: tuple[str, ...]) -> bool:
    """An https URL whose host (lower case, without a trailing dot) matches one of the
    lower-case `host_globs`."""
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".")
    return parts.scheme == "https" and any(fnmatchcase(host, glob) for glob in host_globs)


def id_token_audience(url: str) -> str:
    """The ID token audience of a function URL: the Cloud Run service URL `scheme://host`, or
    `scheme://host/NAME` on a Cloud Functions (`*.cloudfunctions.net`) host."""
    parts = _split(url)
    origin = f"{parts.scheme}://{_host(parts)}"
    if (parts.hostname or "").endswith(".cloudfunctions.net"):
        name = parts.path.strip("/").partition("/")[0]
        return f"{origin}/{name}" if name else origin
    return origin


def _split(url: str) -> SplitResult:
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise InvalidRequest(f"invalid function url: {exc}") from None
    if not parts.hostname:
        raise InvalidRequest("invalid function url: no host")
    return parts


def _host(parts: SplitResult) -> str:
    """host[:port], never the user:password@ in front."""
    return parts.netloc.rpartition("@")[2]


def _agreed(what: str, from_name: str, given: str | None) -> str:
    if given and given != from_name:
        raise InvalidRequest(f"the function names {what} {from_name!r} but the target {given!r}")
    return from_name


def _check(pattern: re.Pattern[str], value: str, what: str) -> None:
    if not pattern.fullmatch(value):
        raise InvalidRequest(f"{value!r} is not {what}")
