# ruff: noqa: F811  (tests take the imported fixtures as arguments)
"""The /docs page in headless Chromium against a real `fnproxy serve`: Swagger UI renders from
/openapi.json, Authorize gets a token with client credentials from /v1/auth/token, and try-it
runs `local:hello` through POST /v1/invoke, all without a request to any other host and without
a Content-Security-Policy violation."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from tests.e2e.browser_support import chromium, page, post_json, server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def invoker(server) -> dict:
    """A client with the `invoke` scope, made by the admin as an operator would."""
    admin = post_json(f"{server['url']}/v1/auth/token", {"api_key": server["module_key"]})
    return post_json(
        f"{server['url']}/v1/clients",
        {"name": "docs-page", "scopes": ["invoke"]},
        admin["access_token"],
    )


def test_authorize_then_try_it_invokes_a_local_function(server, invoker, page, tmp_path):
    requests, problems = [], []
    page.on("request", lambda request: requests.append(request))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    try:
        page.goto(f"{server['url']}/docs")
        page.locator(".swagger-ui .info .title").filter(has_text="fnproxy").wait_for()

        page.locator(".auth-wrapper button.authorize").click()
        oauth2 = page.locator(".auth-container").filter(has_text="clientCredentials")
        oauth2.locator("#client_id_clientCredentials").fill(invoker["client_id"])
        oauth2.locator("#client_secret_clientCredentials").fill(invoker["client_secret"])
        oauth2.locator("button.authorize").click()
        oauth2.locator("button", has_text="Logout").wait_for()  # a token was granted
        page.locator(".modal-ux button.close-modal").click()

        operation = page.locator(".opblock-post").filter(
            has=page.locator('.opblock-summary-path[data-path="/v1/invoke"]')
        )
        operation.locator(".opblock-summary").click()
        body = {"target": {"provider": "local", "function": "hello"}, "payload": {"name": "docs"}}
        operation.locator("textarea.body-param__text").fill(json.dumps(body))
        operation.locator("button.execute").click()

        answer = operation.locator(".live-responses-table .response")
        answer.locator(".response-col_status", has_text="200").wait_for()
        assert '"Hello, docs!"' in answer.locator(".response-col_description").inner_text()
    except Exception:
        page.screenshot(path=tmp_path / "docs-page.png", full_page=True)
        raise

    origin = urlsplit(server["url"]).netloc
    elsewhere = [
        r.url
        for r in requests
        if urlsplit(r.url).scheme in ("http", "https") and urlsplit(r.url).netloc != origin
    ]
    assert not elsewhere, f"the page reached other hosts: {elsewhere}"
    token_calls = [r for r in requests if urlsplit(r.url).path == "/v1/auth/token"]
    assert [r.headers.get("authorization", "")[:6] for r in token_calls] == ["Basic "]
    invokes = [r for r in requests if urlsplit(r.url).path == "/v1/invoke"]
    assert len(invokes) == 1 and invokes[0].headers["authorization"].startswith("Bearer ")
    assert not problems, problems  # a CSP violation is a console error
