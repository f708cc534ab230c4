"""SigV4 verification against botocore's own signer: what boto3 sends is what is checked."""

from __future__ import annotations

import calendar
import hashlib
import time
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from core.auth.sigv4 import (
    IncompleteSignature,
    InvalidSignature,
    MissingAuthentication,
    SignedRequest,
    check_scope,
    parse_authorization,
    verify,
)

SECRET = "fpsv4_" + "s" * 43
URL = "http://fnproxy.test:8080/stage/lambda-api/2015-03-31/functions/greet%3A2/invocations"


def signed(
    body: bytes = b'{"name": "Ada"}',
    *,
    secret: str = SECRET,
    region: str = "us-east-1",
    service: str = "lambda",
    query: str = "Qualifier=2&a=b%20c",
) -> SignedRequest:
    """A request as botocore signs it, read back as the server receives it."""
    request = AWSRequest(method="POST", url=f"{URL}?{query}", data=body)
    request.headers["X-Amz-Invocation-Type"] = "RequestResponse"
    credentials = Credentials("cl_abc", secret)
    SigV4Auth(credentials, service, region).add_auth(request)
    headers = {name.lower(): [value] for name, value in request.headers.items()}
    headers["host"] = [urlsplit(URL).netloc]
    parts = urlsplit(request.url)
    return SignedRequest("POST", parts.path, parts.query, lambda n: headers.get(n, []), body)


def check(request: SignedRequest, secret: str = SECRET, now: float | None = None) -> None:
    authorization = parse_authorization(request.header("authorization")[0])
    amz_date = request.header("x-amz-date")[0]
    check_scope(authorization, amz_date, "us-east-1", "lambda", now or time.time())
    verify(secret, authorization, request)


def test_a_botocore_signature_verifies_with_the_path_prefix_and_an_encoded_name() -> None:
    request = signed()

    check(request)
    assert parse_authorization(request.header("authorization")[0]).access_key == "cl_abc"


def test_another_secret_does_not_verify() -> None:
    with pytest.raises(InvalidSignature, match="does not match"):
        check(signed(), secret="fpsv4_" + "t" * 43)


def test_a_changed_body_path_or_query_does_not_verify() -> None:
    request = signed()
    for changed in (
        SignedRequest(request.method, request.path, request.query, request.header, b"{}"),
        SignedRequest(request.method, "/lambda-api" + request.path, "", request.header, b""),
        SignedRequest(request.method, request.path, "Qualifier=3", request.header, request.body),
    ):
        with pytest.raises(InvalidSignature):
            check(changed)


def test_a_declared_payload_hash_must_be_the_bodys() -> None:
    request = signed()
    headers = {"x-amz-content-sha256": [hashlib.sha256(b"other").hexdigest()]}

    def header(name: str) -> list[str]:
        return headers.get(name) or request.header(name)

    with pytest.raises(InvalidSignature, match="X-Amz-Content-Sha256"):
        check(SignedRequest("POST", request.path, request.query, header, request.body))


def test_a_date_more_than_five_minutes_away_is_expired() -> None:
    request = signed()
    signed_at = calendar.timegm(time.strptime(request.header("x-amz-date")[0], "%Y%m%dT%H%M%SZ"))
    check(request, now=signed_at + 300)
    check(request, now=signed_at - 300)
    for skewed in (signed_at - 301, signed_at + 301):
        with pytest.raises(InvalidSignature, match="Signature expired"):
            check(request, now=skewed)


@pytest.mark.parametrize(
    ("region", "service", "refusal"),
    [("eu-west-1", "lambda", "region must be 'us-east-1'"), ("us-east-1", "s3", "service")],
)
def test_another_region_or_service_is_refused(region: str, service: str, refusal: str) -> None:
    with pytest.raises(InvalidSignature, match=refusal):
        check(signed(region=region, service=service))


@pytest.mark.parametrize(
    "header",
    [
        "Bearer abc",
        "AWS4-HMAC-SHA256 Credential=cl_abc/20260101/us-east-1/lambda/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=short",
        "AWS4-HMAC-SHA256 Credential=cl_abc/2026/us-east-1/lambda/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=cl_abc/20260101/us-east-1/lambda/aws4_request, "
        "SignedHeaders=x-amz-date, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=cl_abc/20260101/us-east-1/lambda/aws4_request, "
        "SignedHeaders=" + ";".join(f"h{n:02}" for n in range(33)) + ";host;x-amz-date, "
        "Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=" + "c" * 3000,
    ],
)
def test_a_malformed_or_unbounded_authorization_is_refused_before_any_work(header: str) -> None:
    with pytest.raises(IncompleteSignature):
        parse_authorization(header)


def test_an_unsigned_request_is_refused() -> None:
    with pytest.raises(MissingAuthentication):
        parse_authorization(None)
