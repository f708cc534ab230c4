"""The http(s) URL of http and gcp_functions targets (and /gcp invoke-http): one pattern,
HTTP_URL_PATTERN, that admits exactly what canonical_url and the providers take. `^https?://`
admitted URLs with no host, a port that is no number, or a host label over 63 characters, which
validation or the http provider then refused (issue 12)."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from core.api.compat.gcp_module import GcpHttpInvokeRequest
from core.providers import gcp_functions, http
from core.providers._http_client import parse_url
from core.targets import HTTP_URL_PATTERN, GcpFunctionsTarget, HttpTarget

REFUSED = [
    "http://",
    "http:///path",
    "http://h:\u00f2",
    "http://h:",
    "http://h:65536",
    "http://h:-1",
    "https://" + "0" * 200,
    "https://a." + "b" * 64 + ".example/",
    "http://h..example/",
    "http://[::1/",
    "http://[::::]/",
    "http://[1.2.3.4]/",
    "http://[v1.x]/",
    "http://u[@h/",
    "http://h\u00e9.example/",
    "http://h\n",
    "ftp://h/",
]
ACCEPTED = [
    "http://h",
    "https://h.example:0/x?y#z",
    "http://u:p%40@h.example:65535/",
    "http://@h?q",
    "https://" + "a" * 63 + ".example#f",
    "http://[::1]:8080/",
    "http://[2001:db8::1.2.3.4]",
    "http://127.0.0.1:9/x",
]


def models(url: str) -> list:
    return [
        lambda: HttpTarget(provider="http", url=url),
        lambda: GcpFunctionsTarget(provider="gcp_functions", url=url),
        lambda: GcpHttpInvokeRequest(url=url),
    ]


@pytest.mark.parametrize("url", REFUSED)
def test_a_url_the_providers_cannot_use_is_an_error_of_the_url_field(url):
    assert not re.search(HTTP_URL_PATTERN.replace("|$)", r"|\Z)"), url)  # the document's too
    for build in models(url):
        with pytest.raises(ValidationError) as refused:
            build()
        assert [error["loc"] for error in refused.value.errors()] == [("url",)]


@pytest.mark.parametrize("url", ACCEPTED)
def test_a_url_the_pattern_admits_is_taken(url):
    for build in models(url):
        build()
    used(HttpTarget(provider="http", url=url).url)


def used(url: str) -> None:
    """What the providers do with a target's URL before any connection."""
    parse_url(url)
    http.url_key(url)
    gcp_functions.id_token_audience(url)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(st.from_regex(HTTP_URL_PATTERN.replace("|$)", r"|\Z)")))
def test_every_url_the_pattern_admits_is_taken(url):
    if len(url) <= 2048:
        used(HttpTarget(provider="http", url=url).url)
        GcpHttpInvokeRequest(url=url)


def test_the_document_states_the_pattern():
    for model in (HttpTarget, GcpHttpInvokeRequest):
        assert model.model_json_schema()["properties"]["url"]["pattern"] == HTTP_URL_PATTERN
    (by_url,) = [
        branch
        for branch in GcpFunctionsTarget.model_json_schema()["properties"]["url"]["anyOf"]
        if branch.get("type") == "string"
    ]
    assert by_url["pattern"] == HTTP_URL_PATTERN and by_url["maxLength"] == 2048


async def test_invoke_refuses_a_url_without_host_as_a_422(client, admin):
    for url in ("http://", "http://h:\u00f2", "https://" + "0" * 200):
        target = {"provider": "http", "url": url}
        response = await client.post("/v1/invoke", json={"target": target}, headers=admin)
        assert response.status_code == 422, response.text
        assert [error["loc"] for error in response.json()["errors"]] == ["target.http.url"]
