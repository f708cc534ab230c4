"""Takes the dashboard screenshots in docs/images/ (`make screenshots`): a fresh `fnproxy serve`
with sample functions, a little traffic, and the main pages at 1280x800 and a phone's width, in
Debian's Chromium (/usr/bin/chromium).

    .venv/bin/python -m docs.screenshots [folder]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from tests.e2e.browser_support import (
    call_json,
    launched_chromium,
    running_fnproxy,
    sign_in_with_module_key,
)

IMAGES = Path(__file__).parent / "images"
WIDE = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def local(function: str) -> dict:
    return {"provider": "local", "function": function}


def seed(url: str, token: str) -> str:
    """Functions, versions, a canary, traffic and a client; the id of one execution to show."""

    def post(path: str, body: dict) -> dict:
        return call_json(f"{url}{path}", body, token)

    post(
        "/v1/functions", {"name": "greeter", "description": "Says hello", "target": local("hello")}
    )
    post("/v1/functions/greeter/versions", {"target": local("echo")})
    call_json(f"{url}/v1/functions/greeter/canary", {"version": 2, "weight": 20}, token, "PUT")
    post(
        "/v1/functions",
        {"name": "flaky", "description": "Fails on purpose", "target": local("fail")},
    )
    post("/v1/functions", {"name": "report", "target": local("echo"), "policy": {"timeout_s": 30}})
    shown = ""
    for n in range(24):
        shown = post("/v1/functions/greeter/invoke", {"payload": {"name": f"caller {n}"}})[
            "execution_id"
        ]
        if n % 6 == 0:
            post("/v1/functions/flaky/invoke", {"payload": {"n": n}})
        post("/v1/functions/report/invoke", {"payload": {"rows": n}})
    post("/v1/functions/flaky/disable", {})
    client = post("/v1/clients", {"name": "billing-service", "scopes": ["read", "invoke:greeter"]})
    credentials = {key: client[key] for key in ("client_id", "client_secret")}
    billing = call_json(f"{url}/v1/auth/token", credentials)["access_token"]
    call_json(f"{url}/v1/functions/greeter/invoke", {"payload": {}}, billing)
    post("/v1/clients", {"name": "ops-readonly", "scopes": ["read"]})
    return shown


def capture(browser, server: dict, execution_id: str, folder: Path) -> list[Path]:
    pages = {
        "overview": "#/",
        "functions": "#/functions",
        "function": "#/functions/greeter",
        "invocations": "#/invocations",
        "execution": f"#/executions/{execution_id}",
        "clients": "#/clients",
    }
    taken = []
    for size_name, viewport in (("", WIDE), ("-phone", PHONE)):
        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        sign_in_with_module_key(page, server)
        for name, route in pages.items():
            if size_name and name != "overview":
                continue
            page.goto(f"{server['url']}/dashboard{route}")
            page.locator("h1").wait_for()
            page.wait_for_load_state("networkidle")
            path = folder / f"dashboard-{name}{size_name}.png"
            page.screenshot(path=path, full_page=bool(size_name) or name == "function")
            taken.append(path)
        context.close()
    return taken


def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as data, running_fnproxy(Path(data)) as server:
        grant = call_json(f"{server['url']}/v1/auth/token", {"api_key": server["module_key"]})
        execution_id = seed(server["url"], grant["access_token"])
        with launched_chromium() as browser:
            for path in capture(browser, server, execution_id, folder):
                print(path)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else IMAGES)
