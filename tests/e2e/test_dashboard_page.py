# ruff: noqa: F811  (tests take the imported fixtures as arguments)
"""The /dashboard in headless Chromium against a real `fnproxy serve`, used as an operator would:
through labelled controls, with every action going to the public API with the signed-in token."""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import urllib.request
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.e2e.browser_support import (  # noqa: F401  (fixtures)
    call_json,
    chromium,
    page,
    server,
    sign_in_with_module_key,
)

pytestmark = pytest.mark.e2e
LOCAL_HELLO = '{"provider": "local", "function": "hello"}'
LOCAL_ECHO = '{"provider": "local", "function": "echo"}'


def admin_token(server) -> str:
    return call_json(f"{server['url']}/v1/auth/token", {"api_key": server["module_key"]})[
        "access_token"
    ]


def create_client(server, name: str, scopes: list[str]) -> dict:
    return call_json(
        f"{server['url']}/v1/clients", {"name": name, "scopes": scopes}, admin_token(server)
    )


def sign_in_with_client(page, server, client: dict, lands_on: str = "Overview") -> None:
    page.goto(f"{server['url']}/dashboard")
    page.get_by_label("Client ID").fill(client["client_id"])
    page.get_by_label("Client secret").fill(client["client_secret"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=lands_on)).to_be_visible()


def register(server, name: str, *functions: str) -> None:
    """The function `name`, its versions calling the local `functions` in order (v1 active)."""
    token = admin_token(server)
    first, *later = [{"provider": "local", "function": function} for function in functions]
    call_json(f"{server['url']}/v1/functions", {"name": name, "target": first}, token)
    for target in later:
        call_json(f"{server['url']}/v1/functions/{name}/versions", {"target": target}, token)


def figure(page, name: str):
    return page.locator(f'[data-figure="{name}"] .value')


def test_sign_in_keeps_the_token_in_the_tab_only_and_sign_out_forgets_it(server, page):
    requests, problems = [], []
    page.on("request", lambda request: requests.append(request))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    client = create_client(server, "dashboard-reader", ["read"])

    page.goto(f"{server['url']}/")  # the root sends a browser to the dashboard
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Client ID").fill(client["client_id"])
    page.get_by_label("Client secret").fill("not the secret")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("status")).to_contain_text("invalid client")
    problems.clear()  # Chromium logs the refused sign-in's 401 as a console error
    sign_in_with_client(page, server, client)

    stored = page.evaluate("JSON.parse(sessionStorage.getItem('fnproxy.dashboard.session'))")
    assert stored["scope"] == "read" and stored["token"].count(".") == 2
    assert page.evaluate("localStorage.length") == 0 and page.context.cookies() == []
    assert all(stored["token"] not in request.url for request in requests)
    assert client["client_secret"] not in page.content()
    origin = urlsplit(server["url"]).netloc
    assert {urlsplit(r.url).netloc for r in requests if r.url.startswith("http")} == {origin}

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0
    page.goto(f"{server['url']}/dashboard#/functions")  # no way around the sign-in
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert not problems, problems


def test_overview_numbers_match_the_stats_route(server, page):
    token = admin_token(server)
    for payload in ({"name": "a"}, {"name": "b"}):
        call_json(
            f"{server['url']}/v1/invoke",
            {"target": {"provider": "local", "function": "hello"}, "payload": payload},
            token,
        )
    call_json(
        f"{server['url']}/v1/invoke",
        {"target": {"provider": "local", "function": "fail"}, "payload": {}},
        token,
    )
    since = int(time.time()) - 86400  # the page's default window
    stats = call_json(f"{server['url']}/v1/stats?since={since}", token=token, method="GET")
    sign_in_with_module_key(page, server)

    assert stats["failures"] >= 1 and stats["successes"] >= 2
    expect(figure(page, "invocations")).to_have_text(str(stats["count"]))
    expect(figure(page, "success-rate")).to_have_text(f"{stats['success_rate'] * 100:.1f} %")
    expect(figure(page, "p95")).to_have_text(f"{stats['p95_ms']:.1f} ms")
    expect(
        page.get_by_role(
            "img", name=re.compile(rf"^Invocations over time: {stats['count']} in \d+ steps$")
        )
    ).to_be_visible()
    feed = page.get_by_role("list", name="Recent activity")
    expect(feed.get_by_role("link", name="local:fail")).to_be_visible()

    page.get_by_label("Function", exact=True).select_option("local:fail")
    expect(figure(page, "invocations")).to_have_text(
        str(stats["by_function"]["local:fail"]["count"])
    )
    expect(figure(page, "success-rate")).to_have_text("0.0 %")

    call_json(
        f"{server['url']}/v1/invoke",
        {"target": {"provider": "local", "function": "echo"}, "payload": {}},
        token,
    )
    expect(feed.get_by_role("link", name="local:echo")).to_be_visible()  # the feed refreshes


def test_a_function_from_registration_to_rollback_all_seen_on_the_page(server, page):
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in_with_module_key(page, server)
    page.get_by_role("link", name="Functions").click()
    page.get_by_label("Name").fill("greeter")
    page.get_by_label("Target (JSON)").fill(LOCAL_HELLO)
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_role("heading", name="Function greeter")).to_be_visible()
    expect(page.get_by_role("article", name="Version 1")).to_contain_text("active")

    page.get_by_label("New version's target (JSON)").fill(LOCAL_ECHO)
    page.get_by_role("button", name="Add version").click()
    version_2 = page.get_by_role("article", name="Version 2")
    expect(version_2).to_contain_text('"function": "echo"')

    page.get_by_label("Canary version").select_option("2")
    page.get_by_label("Weight (%)").fill("25")
    page.get_by_role("button", name="Set canary").click()
    expect(version_2).to_contain_text("canary 25 %")

    version_2.get_by_role("button", name="Activate v2").click()
    expect(version_2).to_contain_text("active")
    expect(page.get_by_role("article", name="Version 1")).not_to_contain_text("active")
    page.get_by_role("button", name="Roll back to v1").click()
    expect(page.get_by_role("article", name="Version 1")).to_contain_text("active")

    history = page.get_by_role("region", name="Change history")
    for change in ("created", "version added", "canary set", "activated", "rolled back"):
        expect(history.get_by_role("cell", name=change, exact=True)).to_be_visible()

    page.get_by_role("button", name="Disable").click()
    expect(page.locator(".summary").get_by_text("disabled", exact=True)).to_be_visible()
    page.get_by_role("button", name="Enable").click()
    expect(page.locator(".summary").get_by_text("enabled", exact=True)).to_be_visible()

    page.get_by_role("article", name="Version 2").get_by_role("button", name="Delete v2").click()
    expect(page.get_by_role("article", name="Version 2")).to_have_count(0)
    detail = call_json(
        f"{server['url']}/v1/functions/greeter", token=admin_token(server), method="GET"
    )
    assert [v["version"] for v in detail["versions"]] == [1] and detail["active_version"] == 1


def test_test_console_invokes_a_version_and_opens_its_execution(server, page):
    register(server, "console", "hello", "echo")
    sign_in_with_module_key(page, server)
    page.goto(f"{server['url']}/dashboard#/functions/console")
    page.get_by_label("Version", exact=True).select_option("2")  # not the active one
    page.get_by_label("Payload (JSON)").fill('{"from": "console"}')
    page.get_by_role("button", name="Invoke").click()
    answer = page.get_by_role("region", name="Test console")
    expect(answer.locator("pre")).to_contain_text('"from": "console"')
    expect(answer.locator("pre")).to_contain_text('"function_version": 2')

    answer.get_by_role("link", name="open the execution").click()
    expect(page.get_by_role("heading", name=re.compile("^Execution "))).to_be_visible()
    summary = page.locator("dl.facts")
    expect(summary).to_contain_text("console")
    expect(summary).to_contain_text("v2")
    payload = page.get_by_role("region", name="Payload")
    expect(payload).to_contain_text('"from": "console"')
    expect(page.get_by_role("region", name="Logs")).to_be_visible()

    page.go_back()
    page.get_by_label("Payload (JSON)").fill("{not json")
    page.get_by_role("button", name="Invoke").click()
    expect(answer.locator(".error")).to_contain_text("payload")


def test_a_result_kept_in_blobs_is_a_download_link_on_its_execution(server, page):
    large = {"rows": ["r" * 1024] * 1100}  # past BLOBS_READ_INLINE_BYTES (1 MiB): a link
    done = call_json(
        f"{server['url']}/v1/invoke",
        {"target": {"provider": "local", "function": "echo"}, "payload": large},
        admin_token(server),
    )
    sign_in_with_module_key(page, server)
    page.goto(f"{server['url']}/dashboard#/executions/{done['execution_id']}")

    link = page.get_by_role("region", name="Result").get_by_role("link", name="download the result")
    href = urllib.parse.urljoin(page.url, link.get_attribute("href"))  # as the browser does
    with urllib.request.urlopen(href, timeout=10) as answer:
        assert json.loads(answer.read()) == large


def test_invocations_explorer_filters_by_status_and_opens_an_execution(server, page):
    token = admin_token(server)
    failed = call_json(
        f"{server['url']}/v1/invoke",
        {"target": {"provider": "local", "function": "fail"}, "payload": {}},
        token,
    )
    sign_in_with_module_key(page, server)
    page.get_by_role("link", name="Invocations").click()
    rows = page.locator("tbody tr")
    expect(rows.filter(has_text="succeeded").first).to_be_visible()  # unfiltered at first
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    expect(rows.filter(has_not_text="failed")).to_have_count(0)
    expect(rows.first).to_contain_text("failed")
    page.get_by_role("link", name=failed["execution_id"][:12]).click()
    expect(page.get_by_role("heading", name=f"Execution {failed['execution_id']}")).to_be_visible()
    expect(page.get_by_role("region", name="Error")).to_contain_text("failed on purpose")


def test_a_client_is_created_with_its_secret_shown_once_then_revoked(server, page):
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in_with_module_key(page, server)
    page.get_by_role("link", name="Clients").click()
    page.get_by_label("Name").fill("ci-bot")
    page.get_by_label("invoke", exact=True).check()
    page.get_by_role("button", name="Create client").click()
    secret = page.get_by_label("Client secret").input_value()
    sigv4_secret = page.get_by_label("SigV4 secret").input_value()
    client_id = page.get_by_label("Client ID").input_value()
    grant = call_json(
        f"{server['url']}/v1/auth/token", {"client_id": client_id, "client_secret": secret}
    )
    assert set(grant["scope"].split()) == {"read", "invoke"}
    assert sigv4_secret.startswith("fpsv4_")

    page.get_by_role("button", name="Done, hide the secrets").click()
    assert secret not in page.content() and sigv4_secret not in page.content()
    page.reload()
    expect(page.get_by_role("cell", name="ci-bot", exact=True)).to_be_visible()
    assert secret not in page.content() and sigv4_secret not in page.content()  # never again

    page.get_by_role("button", name="Revoke ci-bot").click()
    expect(page.get_by_text("revoked", exact=True)).to_be_visible()
    with pytest.raises(urllib.error.HTTPError) as refused:
        call_json(
            f"{server['url']}/v1/auth/token", {"client_id": client_id, "client_secret": secret}
        )
    assert refused.value.code == 401


def test_a_read_client_sees_the_pages_without_admin_buttons(server, page):
    register(server, "readonly", "hello", "echo")
    sign_in_with_client(page, server, create_client(server, "viewer", ["read"]))
    expect(page.get_by_role("link", name="Clients")).to_be_hidden()
    page.get_by_role("link", name="Functions").click()
    expect(page.get_by_role("link", name="readonly")).to_be_visible()
    expect(page.get_by_role("button", name="Register")).to_have_count(0)
    page.get_by_role("link", name="readonly").click()
    expect(page.get_by_role("heading", name="Function readonly")).to_be_visible()
    expect(page.get_by_role("heading", name="Executions")).to_be_visible()
    for action in (
        "Disable",
        "Roll back to v1",
        "Activate v2",
        "Delete v2",
        "Add version",
        "Set canary",
        "Save policy",
        "Invoke",
    ):
        expect(page.get_by_role("button", name=action)).to_have_count(0)


FOCUSED = "document.activeElement.textContent.trim()"
UNLABELLED_CONTROLS = """[...document.querySelectorAll('input, select, textarea, button')]
    .filter((c) => c.offsetParent !== null)
    .filter((c) => c.tagName === 'BUTTON' ? !c.textContent.trim()
                                          : !c.labels.length && !c.getAttribute('aria-label'))
    .map((c) => c.outerHTML)"""


def tab_to(page, text: str, most: int = 40) -> None:
    for _ in range(most):
        page.keyboard.press("Tab")
        if page.evaluate(FOCUSED) == text:
            return
    raise AssertionError(f"{text!r} cannot be reached with Tab")


def test_signing_in_and_moving_around_by_keyboard_alone(server, page):
    page.goto(f"{server['url']}/dashboard")
    expect(page.get_by_role("heading", name="Sign in")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Sign in with")).to_be_focused()
    page.keyboard.press("ArrowDown")  # to "Module key"
    page.keyboard.press("Tab")
    expect(page.get_by_label("Module key")).to_be_focused()
    page.keyboard.type(server["module_key"])
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Overview")).to_be_focused()

    tab_to(page, "Functions")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Functions")).to_be_focused()
    expect(page.get_by_role("link", name="Functions")).to_have_attribute("aria-current", "page")
    tab_to(page, "Register")  # the register form is in the tab order


def test_every_page_fits_a_phone_and_labels_every_control(server, chromium):
    token = admin_token(server)
    register(server, "phone", "hello")
    execution = call_json(
        f"{server['url']}/v1/functions/phone/invoke",
        {"payload": {"name": "a rather long name " * 8}},
        token,
    )
    context = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    try:
        sign_in_with_module_key(page, server)
        for route in (
            "#/",
            "#/functions",
            "#/functions/phone",
            "#/invocations",
            f"#/executions/{execution['execution_id']}",
            "#/clients",
        ):
            page.goto(f"{server['url']}/dashboard{route}")
            page.locator("h1").wait_for()
            page.wait_for_load_state("networkidle")
            wider = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert wider <= 0, f"{route} is {wider} px wider than the phone"
            assert page.evaluate(UNLABELLED_CONTROLS) == [], route
    finally:
        context.close()


def test_the_change_history_pages_back_to_the_first_change(server, page):
    token = admin_token(server)
    register(server, "busy", "hello")
    for timeout_s in range(1, 30):  # 29 changes after the creation: more than a page
        call_json(
            f"{server['url']}/v1/functions/busy",
            {"policy": {"timeout_s": timeout_s}},
            token,
            method="PATCH",
        )
    sign_in_with_module_key(page, server)
    page.goto(f"{server['url']}/dashboard#/functions/busy")
    history = page.get_by_role("region", name="Change history")
    expect(history.get_by_role("cell", name="30", exact=True)).to_be_visible()
    expect(history.get_by_role("cell", name="created", exact=True)).to_have_count(0)
    history.get_by_role("button", name="Older changes").click()
    expect(history.get_by_role("cell", name="created", exact=True)).to_be_visible()
    expect(history.locator("tbody tr")).to_have_count(30)
    expect(history.get_by_role("button", name="Older changes")).to_have_count(0)


def test_a_client_without_read_is_told_why_it_sees_nothing(server, page):
    invoker = create_client(server, "invoker-only", ["invoke"])
    sign_in_with_client(page, server, invoker, lands_on="Nothing to show")
    expect(page.get_by_text("do not include read")).to_be_visible()
