"""AWS Signature Version 4 (AWS4-HMAC-SHA256) checked on the server side: the Lambda Invoke API
front (core.api.lambda_api) takes the AWS SDKs' signed requests, with a fnproxy client id as
the access key id and the client's SigV4 secret (core.auth.clients) as the secret access key.

The canonical request is rebuilt from what the client sent: the method, the path as it went on
the wire (percent-encoded, with any prefix of the endpoint URL: an API Gateway stage included),
the query, the headers the client signed and the body's SHA-256. Every field is bounded before
any work, the credential scope must name this deployment's region and the expected service, and
X-Amz-Date must be within five minutes of now."""

from __future__ import annotations

import hashlib
import hmac
import re
from calendar import timegm
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl, quote

from core.errors import Forbidden

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
MAX_AUTHORIZATION_LENGTH = 2048
MAX_SIGNED_HEADERS = 32
MAX_SKEW_S = 300
REQUIRED_SIGNED = ("host", "x-amz-date")

_AUTHORIZATION = re.compile(
    ALGORITHM + r" +Credential=(?P<credential>[^,\s]{1,300}) *, *"
    r"SignedHeaders=(?P<signed>[a-z0-9;._-]{1,1200}) *, *"
    r"Signature=(?P<signature>[0-9a-f]{64})"
)
_CREDENTIAL = re.compile(
    r"(?P<key>[A-Za-z0-9_-]{1,128})/(?P<date>\d{8})/(?P<region>[a-z0-9-]{1,32})/"
    r"(?P<service>[a-z0-9-]{1,32})/" + TERMINATOR
)
_HEADER_NAME = re.compile(r"[a-z0-9._-]{1,64}")
_AMZ_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z")


class MissingAuthentication(Forbidden):
    code = "missing_authentication_token"


class IncompleteSignature(Forbidden):
    """An Authorization header that is no well-formed SigV4 one."""

    code = "incomplete_signature"


class InvalidSignature(Forbidden):
    """A well-formed signature that does not hold: wrong secret, scope, date or content."""

    code = "invalid_signature"


@dataclass(frozen=True)
class Authorization:
    """What an `Authorization: AWS4-HMAC-SHA256 ...` header says."""

    access_key: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{TERMINATOR}"


@dataclass(frozen=True)
class SignedRequest:
    """The parts of a received request a signature covers."""

    method: str
    path: str
    """As sent: percent-encoded, the endpoint URL's own path in front."""
    query: str
    header: Callable[[str], list[str]]
    """Every value a header name (lowercase) was sent with."""
    body: bytes


def parse_authorization(header: str | None) -> Authorization:
    """The header's fields, bounded and checked for shape before anything else is done."""
    if header is None:
        raise MissingAuthentication("the request is not signed (no Authorization header, or many)")
    if len(header) > MAX_AUTHORIZATION_LENGTH:
        raise IncompleteSignature(f"Authorization is longer than {MAX_AUTHORIZATION_LENGTH}")
    fields = _AUTHORIZATION.fullmatch(header.strip())
    if fields is None:
        raise IncompleteSignature(
            f"Authorization must be {ALGORITHM} Credential=<access key id>/<date>/<region>/"
            f"<service>/{TERMINATOR}, SignedHeaders=<names>, Signature=<64 hex digits>"
        )
    credential = _CREDENTIAL.fullmatch(fields["credential"])
    if credential is None:
        raise IncompleteSignature(
            f"Credential must be <access key id>/<yyyymmdd>/<region>/<service>/{TERMINATOR}"
        )
    signed = tuple(fields["signed"].split(";"))
    if len(signed) > MAX_SIGNED_HEADERS or not all(map(_HEADER_NAME.fullmatch, signed)):
        raise IncompleteSignature(
            f"SignedHeaders must be at most {MAX_SIGNED_HEADERS} lowercase header names"
        )
    if list(signed) != sorted(set(signed)) or not set(REQUIRED_SIGNED) <= set(signed):
        raise IncompleteSignature(
            "SignedHeaders must be sorted, without repeats, and include host and x-amz-date"
        )
    return Authorization(
        credential["key"],
        credential["date"],
        credential["region"],
        credential["service"],
        signed,
        fields["signature"],
    )


def check_scope(
    authorization: Authorization, amz_date: str, region: str, service: str, now: float
) -> None:
    """The credential scope names `region` and `service`, and `amz_date` (X-Amz-Date, which
    the scope's date must match) is within MAX_SKEW_S of `now`."""
    if authorization.service != service:
        raise InvalidSignature(f"the credential's service must be {service!r}")
    if authorization.region != region:
        raise InvalidSignature(f"the credential's region must be {region!r}")
    parts = _AMZ_DATE.fullmatch(amz_date)
    if parts is None:
        raise IncompleteSignature("X-Amz-Date must be yyyymmddThhmmssZ")
    if not amz_date.startswith(authorization.date):
        raise InvalidSignature("the credential's date is not the day of X-Amz-Date")
    try:
        signed_at = timegm(tuple(int(part) for part in parts.groups()))
    except ValueError:
        raise IncompleteSignature("X-Amz-Date is no date") from None
    if abs(now - signed_at) > MAX_SKEW_S:
        raise InvalidSignature(
            f"Signature expired: X-Amz-Date {amz_date} is more than {MAX_SKEW_S // 60} minutes "
            "from the server's time"
        )


def verify(secret: str, authorization: Authorization, request: SignedRequest) -> None:
    """`InvalidSignature` unless `authorization`'s signature is `secret`'s over `request`."""
    expected = signature(secret, authorization, request)
    if not hmac.compare_digest(expected, authorization.signature):
        raise InvalidSignature(
            "The request signature we calculated does not match the signature you provided"
        )


def signature(secret: str, authorization: Authorization, request: SignedRequest) -> str:
    amz_date = request.header("x-amz-date")[0]
    digest = hashlib.sha256(canonical_request(authorization, request).encode()).hexdigest()
    to_sign = f"{ALGORITHM}\n{amz_date}\n{authorization.scope}\n{digest}"
    key = signing_key(secret, authorization.date, authorization.region, authorization.service)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def canonical_request(authorization: Authorization, request: SignedRequest) -> str:
    names = authorization.signed_headers
    headers = "".join(f"{name}:{_header_value(request, name)}\n" for name in names)
    return "\n".join(
        (
            request.method,
            quote(request.path or "/", safe="/~"),
            canonical_query(request.query),
            headers,
            ";".join(names),
            payload_hash(request),
        )
    )


def canonical_query(query: str) -> str:
    """Each name and value percent-encoded as SigV4 wants them, sorted."""
    pairs = parse_qsl(query, keep_blank_values=True)
    return "&".join(
        sorted(f"{quote(name, safe='-_.~')}={quote(value, safe='-_.~')}" for name, value in pairs)
    )


def payload_hash(request: SignedRequest) -> str:
    """The body's SHA-256; an X-Amz-Content-Sha256 the client sent must be that (an unsigned
    payload is refused: the body is what the signature vouches for)."""
    digest = hashlib.sha256(request.body).hexdigest()
    declared = request.header("x-amz-content-sha256")
    if declared and declared[0] != digest:
        raise InvalidSignature("X-Amz-Content-Sha256 is not the SHA-256 of the body")
    return digest


def _header_value(request: SignedRequest, name: str) -> str:
    values = request.header(name)
    if not values:
        raise InvalidSignature(f"the signed header {name!r} is not in the request")
    return ",".join(" ".join(value.split()) for value in values)


@lru_cache(maxsize=256)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """SigV4's key of a day, region and service (the same for a day's calls: cached)."""
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, TERMINATOR):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key
