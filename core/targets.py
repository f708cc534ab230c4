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

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from core.deferred_model import DeferredModel
from core.errors import HeaderNotAllowed, InvalidRequest

MAX_HEADERS = 64
MAX_HEADER_NAME_CHARS = 256
MAX_HEADER_VALUE_CHARS = 8192
HOP_BY_HOP_HEADERS = frozenset(
    {"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade"}
)
"""Headers of one connection (RFC 9110, 7.6.1), never passed on."""
REFUSED_HEADERS = HOP_BY_HOP_HEADERS | {
    "host",
    "metadata-flavor",
    "x-google-metadata-request",
    "x-serverless-authorization",
    "forwarded",
}
REFUSED_HEADER_PREFIXES = ("proxy-", "x-forwarded-", "x-aws-ec2-metadata-token")
HEADER_NAME_PATTERN = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
"""An RFC 9110 token (a character class, so Python, Rust and ECMA regexes read it alike)."""
HEADER_VALUE_PATTERN = r"^[^\x00-\x08\x0a-\x1f\x7f]*$"
"""No control character but tab."""
HEADERS_SCHEMA = {
    "type": "object",
    "maxProperties": MAX_HEADERS,
    "propertyNames": {"pattern": HEADER_NAME_PATTERN, "maxLength": MAX_HEADER_NAME_CHARS},
    "additionalProperties": {
        "type": "string",
        "pattern": HEADER_VALUE_PATTERN,
        "maxLength": MAX_HEADER_VALUE_CHARS,
    },
    "description": "A name on the deny-list (Host, hop-by-hop, Forwarded, X-Forwarded-*, "
    "Proxy-*, Metadata-Flavor, ...) is refused with 400 header_not_allowed.",
}
_is_token = re.compile(HEADER_NAME_PATTERN).fullmatch
_has_control = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]").search

# The providers' name rules, as JSON Schema patterns (`^...$`, ASCII character classes: Python,
# Rust (pydantic) and ECMA (the document's readers) regexes read them alike). The providers
# check names with the same patterns, so the document and the checks cannot drift.
AWS_FUNCTION_NAME = r"[a-zA-Z0-9_.-]{1,64}"
AWS_NAME_QUALIFIER = r"\$LATEST(?:\.PUBLISHED)?|[a-zA-Z0-9_-]{1,128}"
AWS_REGION = r"[a-z]{2,4}(?:-[a-z]{1,12}){1,3}-[0-9]{1,2}"
"""An AWS region's syntax (us-east-1, us-gov-west-1, cn-north-1, eu-isoe-west-1,
eusc-de-east-1): every region botocore knows, and any later one. The region only names the
endpoint's host (`lambda.REGION.amazonaws.com`, its partition's domain), so these letters,
digits and hyphens can name no other host; an unknown one is unreachable (502). Its parts are
bounded so that it stays one DNS label (at most 63 characters; a longer one failed in botocore's
endpoint building as a 500)."""
AWS_REGION_PATTERN = rf"^{AWS_REGION}$"
AWS_ARN_REGION = AWS_REGION
AWS_PARTITION = r"aws(?:-[a-z]{1,12}){0,2}"
"""aws, aws-cn, aws-us-gov, aws-iso-b, ...: an ARN's partition."""
AWS_ACCOUNT = r"[0-9]{12}"
AWS_FUNCTION_PATTERN = (
    rf"^(?:(?:arn:{AWS_PARTITION}:lambda:{AWS_ARN_REGION}:)?{AWS_ACCOUNT}:function:)?"
    rf"{AWS_FUNCTION_NAME}(?::(?:{AWS_NAME_QUALIFIER}))?$"
)
"""A Lambda function name, `name:qualifier`, partial ARN or ARN."""
AWS_QUALIFIER_PATTERN = r"^(?:\$LATEST(?:\.PUBLISHED)?|[a-zA-Z0-9_$-]{1,128})$"
GCP_FUNCTION_ID = r"[A-Za-z][A-Za-z0-9_-]{0,62}"
GCP_PROJECT_ID = r"(?:[a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]"
GCP_REGION = r"[a-z]+(?:-[a-z]+)+[0-9]+"
GCP_FUNCTION_PATTERN = (
    rf"^(?:projects/{GCP_PROJECT_ID}/locations/{GCP_REGION}/functions/)?{GCP_FUNCTION_ID}$"
)
"""A Cloud Functions function id, or its resource name."""
GCP_PROJECT_PATTERN = rf"^(?:{GCP_PROJECT_ID})?$"
"""A GCP project id; empty: the provider's (GCP_PROJECT_ID)."""
GCP_REGION_PATTERN = rf"^(?:{GCP_REGION})?$"
"""A GCP region; empty: the provider's (GCP_REGION)."""
OPENWHISK_ENTITY = r"[A-Za-z0-9_](?:[A-Za-z0-9_@ .-]{0,254}[A-Za-z0-9_@.-])?"
"""OpenWhisk's entity (namespace, package, action, trigger) name; its `\\w` is ASCII."""
OPENWHISK_ENTITY_PATTERN = rf"^{OPENWHISK_ENTITY}$"
OPENWHISK_NAMESPACE_PATTERN = rf"^(?:{OPENWHISK_ENTITY})?$"
"""A namespace; empty: the provider's (OPENWHISK_NAMESPACE)."""
OPENWHISK_ACTION_PATTERN = rf"^(?:/{OPENWHISK_ENTITY}/)?{OPENWHISK_ENTITY}(?:/{OPENWHISK_ENTITY})?$"
"""`name`, `package/name`, `/namespace/name` or `/namespace/package/name`."""
OPENWHISK_TRIGGER_PATTERN = rf"^(?:/{OPENWHISK_ENTITY}/)?{OPENWHISK_ENTITY}$"
"""`name` or `/namespace/name` (triggers are in no package)."""
OPENWHISK_ACTION_CHARS = 3 * 256 + 3
"""`/namespace/package/name`, each entity at most 256 characters."""
OPENWHISK_ACTIVATION_ID_PATTERN = r"^[0-9A-Za-z]{1,64}$"
# Names that carry part of their own location: the target's separate field for that part must
# then be absent or null (the document's if/then, and a field error), whether the two agree or
# not. Each is exact among the names the field's own pattern admits.
AWS_NAMED_QUALIFIER_PATTERN = (
    rf"^(?:(?:arn:{AWS_PARTITION}:lambda:{AWS_ARN_REGION}:)?{AWS_ACCOUNT}:function:)?"
    rf"{AWS_FUNCTION_NAME}:(?:{AWS_NAME_QUALIFIER})$"
)
"""A Lambda name that carries its qualifier (`name:qualifier`, an ARN ending in one)."""
AWS_NAMED_REGION_PATTERN = r"^arn:aws[a-zA-Z-]*:lambda:"
"""A Lambda name that carries its region (a full ARN)."""
GCP_RESOURCE_NAME_PATTERN = r"^projects/"
"""A Cloud Functions resource name: it carries its project and region."""
OPENWHISK_NAMESPACED_PATTERN = r"^/"
"""`/namespace/...`: an OpenWhisk name that carries its namespace."""
_encoded_dot = re.compile("%2e", re.IGNORECASE)
_hidden_separator = re.compile(r"\\|%2f|%5c", re.IGNORECASE)


def excluded_by_name(name: str, pattern: str, *fields: str) -> dict[str, object]:
    """The JSON Schema rule: when `name` is a string matching `pattern`, each of `fields` is
    absent or null."""
    return {
        "if": {"properties": {name: {"type": "string", "pattern": pattern}}, "required": [name]},
        "then": {"properties": {field: {"type": "null"} for field in fields}},
    }


STORED = {"stored": True}
"""The validation context of a target read back from the store (`core.invoke.service.
parse_target`): it was valid when it was written, and the rules a request must meet since (a
name that excludes a separate field, the URL pattern) do not fail it now."""


def is_stored(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("stored"))


def unless_named(value: object, info: ValidationInfo, name: str, pattern: str) -> object:
    """`value` (a field validator's), unless the model's `name` carries it too
    (`excluded_by_name`'s rule): then `ValueError`, a validation error of the field."""
    if is_stored(info):  # the provider still checks that the two agree
        return value
    named = info.data.get(name)
    if value is not None and isinstance(named, str) and re.match(pattern, named):
        raise ValueError(
            f"{name} {named[:300]!r} names its own {info.field_name}: give no {info.field_name}"
        )
    return value


def checked_headers(headers: dict[str, str]) -> dict[str, str]:
    """`headers` if they are few and short enough and none is refused; raises `ValueError`
    (bounds, malformed: a validation error of the field) or `HeaderNotAllowed`."""
    if len(headers) > MAX_HEADERS:
        raise ValueError(f"at most {MAX_HEADERS} headers, got {len(headers)}")
    for name, value in headers.items():
        if len(name) > MAX_HEADER_NAME_CHARS or len(value) > MAX_HEADER_VALUE_CHARS:
            raise ValueError(
                f"a header name is at most {MAX_HEADER_NAME_CHARS} characters and a value "
                f"at most {MAX_HEADER_VALUE_CHARS}"
            )
        if not _is_token(name) or _has_control(value):
            raise ValueError(f"invalid header {name[:64]!r}")
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


_URL_USERINFO = r"[\x21\x22\x24-\x2e\x30-\x3e\x41-\x5a\x5c\x5e-\x7e]*@"
"""Printable ASCII but `#/?@[]`: urlsplit reads a bracket anywhere before the path as an IPv6
literal's, and refuses a non-ASCII one that NFKC maps to a separator."""
_HOST_LABEL = r"[A-Za-z0-9_-]{1,63}"
"""1 to 63 characters: IDNA (the http client encodes every host) refuses a longer label."""
_H16 = r"[0-9A-Fa-f]{1,4}"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_LS32 = rf"(?:{_H16}:{_H16}|{_IPV4})"
_IPV6 = "|".join(
    (
        rf"(?:{_H16}:){{6}}{_LS32}",
        rf"::(?:{_H16}:){{5}}{_LS32}",
        rf"(?:{_H16})?::(?:{_H16}:){{4}}{_LS32}",
        rf"(?:(?:{_H16}:){{0,1}}{_H16})?::(?:{_H16}:){{3}}{_LS32}",
        rf"(?:(?:{_H16}:){{0,2}}{_H16})?::(?:{_H16}:){{2}}{_LS32}",
        rf"(?:(?:{_H16}:){{0,3}}{_H16})?::{_H16}:{_LS32}",
        rf"(?:(?:{_H16}:){{0,4}}{_H16})?::{_LS32}",
        rf"(?:(?:{_H16}:){{0,5}}{_H16})?::{_H16}",
        rf"(?:(?:{_H16}:){{0,6}}{_H16})?::",
    )
)
"""RFC 3986's IPv6address (what urlsplit's ipaddress check takes; no zone id)."""
_PORT = (
    r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}|0)"
)
"""0 to 65535, without leading zeros."""
_URL_AUTHORITY = (
    rf"https?://(?:{_URL_USERINFO})?"
    rf"(?:{_HOST_LABEL}(?:\.{_HOST_LABEL})*|\[(?:{_IPV6})\])(?::{_PORT})?"
)
HTTP_URL_PATTERN = rf"^{_URL_AUTHORITY}(?:[/?#]|$)"
"""An http(s) URL whose authority canonical_url and the providers take: optional userinfo, a
host name of 1-63 character ASCII labels (letters, digits, `_`, `-`) or a bracketed IPv6
literal, an optional port 0-65535, then the path, query or fragment, or the end. No lookaround
and ASCII classes only, so Python, Rust (pydantic) and ECMA read it alike."""
_is_http_url = re.compile(rf"{_URL_AUTHORITY}(?:[/?#]|\Z)").match
"""HTTP_URL_PATTERN in Python (whose `$` also matches before a final newline)."""


def checked_http_url(url: str, info: ValidationInfo) -> str:
    """`url` if HTTP_URL_PATTERN admits it, else `ValueError` (a short message: the pattern is
    the document's, and too long to repeat in every error). A stored target's URL passes."""
    if not _is_http_url(url) and not is_stored(info):
        raise ValueError(
            "not an http(s) URL with a host (1-63 character labels of letters, digits, '_' "
            "and '-', or a bracketed IPv6 address) and an optional port 0-65535"
        )
    return url


Headers = Annotated[dict[str, str], AfterValidator(checked_headers), WithJsonSchema(HEADERS_SCHEMA)]
CanonicalUrl = Annotated[str, AfterValidator(canonical_url)]
HttpUrlText = Annotated[
    str,
    Field(max_length=2048, json_schema_extra={"pattern": HTTP_URL_PATTERN}),
    AfterValidator(checked_http_url),
]
"""An http(s) URL (HTTP_URL_PATTERN, stated in the document and checked)."""
HttpUrl = Annotated[HttpUrlText, AfterValidator(canonical_url)]
"""An http(s) URL, canonical (its bounds stated before the AfterValidators, so the document
keeps them)."""
WebMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
"""The methods an OpenWhisk web action is invoked with here."""


class _Target(DeferredModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class AwsLambdaTarget(_Target):
    provider: Literal["aws_lambda"]
    function: str = Field(min_length=1, max_length=256, pattern=AWS_FUNCTION_PATTERN)
    qualifier: str | None = Field(default=None, max_length=128, pattern=AWS_QUALIFIER_PATTERN)
    region: str | None = Field(default=None, max_length=32, pattern=AWS_REGION_PATTERN)
    invocation_type: Literal["RequestResponse", "Event"] = "RequestResponse"
    """Lambda's own Event type hands the call to Lambda's queue (202, no result)."""

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                excluded_by_name("function", AWS_NAMED_QUALIFIER_PATTERN, "qualifier"),
                excluded_by_name("function", AWS_NAMED_REGION_PATTERN, "region"),
            ]
        }
    )

    @field_validator("qualifier")
    @classmethod
    def _qualifier_once(cls, value: str | None, info: ValidationInfo) -> object:
        return unless_named(value, info, "function", AWS_NAMED_QUALIFIER_PATTERN)

    @field_validator("region")
    @classmethod
    def _region_once(cls, value: str | None, info: ValidationInfo) -> object:
        return unless_named(value, info, "function", AWS_NAMED_REGION_PATTERN)


class GcpFunctionsTarget(_Target):
    provider: Literal["gcp_functions"]
    function: str | None = Field(
        default=None, min_length=1, max_length=256, pattern=GCP_FUNCTION_PATTERN
    )
    project: str | None = Field(default=None, max_length=128, pattern=GCP_PROJECT_PATTERN)
    region: str | None = Field(default=None, max_length=64, pattern=GCP_REGION_PATTERN)
    url: HttpUrl | None = None
    method: str = Field(default="POST", pattern=r"^[A-Za-z]+$", max_length=16)
    headers: Headers = Field(default_factory=dict)

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["function"], "properties": {"function": {"type": "string"}}},
                {"required": ["url"], "properties": {"url": {"type": "string"}}},
            ],
            "allOf": [excluded_by_name("function", GCP_RESOURCE_NAME_PATTERN, "project", "region")],
        }
    )

    @field_validator("project", "region")
    @classmethod
    def _location_once(cls, value: str | None, info: ValidationInfo) -> object:
        return unless_named(value, info, "function", GCP_RESOURCE_NAME_PATTERN)

    @model_validator(mode="after")
    def _function_or_url(self) -> GcpFunctionsTarget:
        if (self.function is None) == (self.url is None):
            raise ValueError("give exactly one of 'function' or 'url'")
        return self


class OpenWhiskTarget(_Target):
    provider: Literal["openwhisk"]
    action: str = Field(
        min_length=1, max_length=OPENWHISK_ACTION_CHARS, pattern=OPENWHISK_ACTION_PATTERN
    )
    """A trigger's is `name` or `/namespace/name` (OPENWHISK_TRIGGER_PATTERN)."""
    namespace: str | None = Field(default=None, max_length=256, pattern=OPENWHISK_NAMESPACE_PATTERN)
    kind: Literal["action", "sequence", "web", "trigger"] = "action"
    blocking: bool = True
    """False hands the activation to OpenWhisk and returns its id at once (settled later)."""
    method: WebMethod | None = None
    """A web action's method (POST when not given); GET sends the payload as the query."""
    headers: Headers | None = None
    """A web action's request headers, bounded and through the deny-list."""

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "if": {"properties": {"kind": {"const": "web"}}, "required": ["kind"]},
                    "else": {
                        "properties": {"method": {"type": "null"}, "headers": {"type": "null"}}
                    },
                },
                {
                    "if": {"properties": {"kind": {"const": "trigger"}}, "required": ["kind"]},
                    "then": {"properties": {"action": {"pattern": OPENWHISK_TRIGGER_PATTERN}}},
                },
                excluded_by_name("action", OPENWHISK_NAMESPACED_PATTERN, "namespace"),
            ]
        }
    )

    @field_validator("namespace")
    @classmethod
    def _namespace_once(cls, value: str | None, info: ValidationInfo) -> object:
        return unless_named(value, info, "action", OPENWHISK_NAMESPACED_PATTERN)

    @model_validator(mode="after")
    def _web_options(self) -> OpenWhiskTarget:
        if self.kind != "web" and (self.method is not None or self.headers is not None):
            raise ValueError("'method' and 'headers' are for web actions (kind 'web') only")
        if self.kind == "trigger" and not _is_trigger(self.action):
            raise ValueError("a trigger is named 'name' or '/namespace/name'")
        return self


_is_trigger = re.compile(OPENWHISK_TRIGGER_PATTERN).fullmatch


class HttpTarget(_Target):
    provider: Literal["http"]
    url: HttpUrl
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
