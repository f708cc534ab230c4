"""What an invocation points at: a discriminated union on `provider`.

The headers of `http`, `gcp_functions` and `openwhisk` web targets are bounded and pass a
deny-list: a header that steers the connection (Host, hop-by-hop, forwarding) or reaches a
metadata service's credentials is refused with 400 `header_not_allowed`, at validation, so
registered targets are covered too. Their URLs are canonical: the path's dot segments (also
percent-encoded ones) are removed, so the function key scopes match is the path that is
requested.
"""

from __future__ import annotations

import functools
import re
from typing import Annotated, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from core.errors import HeaderNotAllowed, InvalidRequest

_NAME = Field(min_length=1, max_length=256)
MAX_HEADERS = 64
MAX_HEADER_NAME_CHARS = 256
MAX_HEADER_VALUE_CHARS = 8192
REFUSED_HEADERS = frozenset(
    {
        "host",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "metadata-flavor",
        "x-google-metadata-request",
        "x-serverless-authorization",
        "forwarded",
    }
)
REFUSED_HEADER_PREFIXES = ("proxy-", "x-forwarded-", "x-aws-ec2-metadata-token")
_is_token = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+").fullmatch
_has_control = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]").search
_encoded_dot = re.compile("%2e", re.IGNORECASE)
_hidden_separator = re.compile(r"\\|%2f|%5c", re.IGNORECASE)


def checked_headers(headers: dict[str, str]) -> dict[str, str]:
    """`headers` if they are few and short enough and none is refused; raises
    `InvalidRequest` (bounds, malformed) or `HeaderNotAllowed`."""
    if len(headers) > MAX_HEADERS:
        raise InvalidRequest(f"at most {MAX_HEADERS} headers, got {len(headers)}")
    for name, value in headers.items():
        if len(name) > MAX_HEADER_NAME_CHARS or len(value) > MAX_HEADER_VALUE_CHARS:
            raise InvalidRequest(
                f"a header name is at most {MAX_HEADER_NAME_CHARS} characters and a value "
                f"at most {MAX_HEADER_VALUE_CHARS}"
            )
        if not _is_token(name) or _has_control(value):
            raise InvalidRequest(f"invalid header {name[:64]!r}")
        lowered = name.lower()
        if lowered in REFUSED_HEADERS or lowered.startswith(REFUSED_HEADER_PREFIXES):
            raise HeaderNotAllowed(f"the {name!r} header is not allowed", header=name)
    return headers


@functools.lru_cache(maxsize=1024)  # callers repeat the same few URLs
def canonical_url(url: str) -> str:
    """`url` with its path normalised (RFC 3986 dot-segment removal, `%2e` read as `.`); an
    empty path is `/`. A dot segment hidden behind an encoded or back slash is refused: a
    server may read either as a separator. A URL that does not parse (an unclosed bracket, a
    port no connection can use) raises `ValueError`: a validation error of its field."""
    parts = urlsplit(url)
    parts.port  # noqa: B018 - raises ValueError for a port that is no number from 0 to 65535
    return urlunsplit(parts._replace(path=canonical_path(parts.path)))


def canonical_path(path: str) -> str:
    segments: list[str] = []
    segment = ""
    for segment in (_encoded_dot.sub(".", raw) for raw in path.split("/")[1:]):
        pieces = _hidden_separator.split(segment)
        if len(pieces) > 1 and any(piece in (".", "..") for piece in pieces):
            raise InvalidRequest(f"ambiguous path segment {segment[:64]!r}")
        if segment == "..":
            if segments:
                segments.pop()
        elif segment != ".":
            segments.append(segment)
    if segment in (".", ".."):  # "/a/b/.." is "/a/"
        segments.append("")
    return "/" + "/".join(segments)


Headers = Annotated[dict[str, str], AfterValidator(checked_headers)]
CanonicalUrl = Annotated[str, AfterValidator(canonical_url)]
WebMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
"""The methods an OpenWhisk web action is invoked with here."""


class _Target(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class AwsLambdaTarget(_Target):
    provider: Literal["aws_lambda"]
    function: str = _NAME
    qualifier: str | None = Field(default=None, max_length=128)
    region: str | None = Field(default=None, max_length=32)
    invocation_type: Literal["RequestResponse", "Event"] = "RequestResponse"
    """Lambda's own Event type hands the call to Lambda's queue (202, no result)."""


class GcpFunctionsTarget(_Target):
    provider: Literal["gcp_functions"]
    function: str | None = Field(default=None, min_length=1, max_length=256)
    project: str | None = Field(default=None, max_length=128)
    region: str | None = Field(default=None, max_length=64)
    url: CanonicalUrl | None = Field(default=None, pattern=r"^https?://", max_length=2048)
    method: str = Field(default="POST", pattern=r"^[A-Za-z]+$", max_length=16)
    headers: Headers = Field(default_factory=dict)

    @model_validator(mode="after")
    def _function_or_url(self) -> GcpFunctionsTarget:
        if (self.function is None) == (self.url is None):
            raise ValueError("give exactly one of 'function' or 'url'")
        return self


class OpenWhiskTarget(_Target):
    provider: Literal["openwhisk"]
    action: str = _NAME
    namespace: str | None = Field(default=None, max_length=256)
    kind: Literal["action", "sequence", "web", "trigger"] = "action"
    blocking: bool = True
    """False hands the activation to OpenWhisk and returns its id at once (settled later)."""
    method: WebMethod | None = None
    """A web action's method (POST when not given); GET sends the payload as the query."""
    headers: Headers | None = None
    """A web action's request headers, bounded and through the deny-list."""

    @model_validator(mode="after")
    def _web_options(self) -> OpenWhiskTarget:
        if self.kind != "web" and (self.method is not None or self.headers is not None):
            raise ValueError("'method' and 'headers' are for web actions (kind 'web') only")
        return self


class HttpTarget(_Target):
    provider: Literal["http"]
    url: CanonicalUrl = Field(pattern=r"^https?://[^\s/]+", max_length=2048)
    method: str = Field(default="POST", pattern=r"^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)$")
    headers: Headers = Field(default_factory=dict)


class LocalTarget(_Target):
    provider: Literal["local"]
    function: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$", max_length=128
    )


Target = Annotated[
    AwsLambdaTarget | GcpFunctionsTarget | OpenWhiskTarget | HttpTarget | LocalTarget,
    Field(discriminator="provider"),
]

PROVIDER_NAMES = ("aws_lambda", "gcp_functions", "openwhisk", "http", "local")
