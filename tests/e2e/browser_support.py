"""What the browser tests share: a real `fnproxy serve` per module (with a known module key),
a JSON helper for setting things up through the API, and Debian's Chromium driven by Playwright
(`executable_path`, never `playwright install`; ../shared/TESTING.md)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import free_port, wait_until_healthy
from tests.e2e.test_serve import FNPROXY, REPO

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
TIMEOUT_MS = 20_000
"""How long a browser test waits for an action or an expectation (Playwright's `expect` waits
5 s by default: less than the dashboard's 5 s activity refresh, and short for a loaded CI)."""


@contextlib.contextmanager
def running_fnproxy(data_dir: Path) -> Iterator[dict]:
    """`fnproxy serve` on a free port with a new module key and the sample functions, its data
    in `data_dir`: {url, module_key} until the block ends."""
    port = free_port()
    module_key = secrets.token_urlsafe(48)
    env = os.environ | {
        "FNPROXY_DATA_DIR": str(data_dir),
        "MODULE_SECRET_KEY": module_key,
        "REST_PORT": str(port),
        "LOCAL_FUNCTIONS_DIR": str(REPO / "functions"),
    }
    log_path = data_dir / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [FNPROXY, "serve"], cwd=data_dir, env=env, stdout=log, stderr=log
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process, log_path)
        yield {"url": url, "module_key": module_key}
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_fnproxy(tmp_path_factory.mktemp("fnproxy-browser")) as running:
        yield running


def call_json(url: str, body: dict | None = None, token: str | None = None, method: str = "POST"):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, headers, method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def post_json(url: str, body: dict, token: str | None = None) -> dict:
    return call_json(url, body, token)


@contextlib.contextmanager
def launched_chromium() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium; .ci/run installs it)")
    with launched_chromium() as browser:
        yield browser


def sign_in_with_module_key(page: Page, server: dict) -> None:
    """Through the dashboard's sign-in form, as an operator holding the module key."""
    page.goto(f"{server['url']}/dashboard")
    page.get_by_label("Sign in with").select_option("module")
    page.get_by_label("Module key").fill(server["module_key"])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Overview").wait_for()


@pytest.fixture
def page(chromium):
    """A page of a fresh browser context (its own session storage) at 1280x1000."""
    context = chromium.new_context(viewport={"width": 1280, "height": 1000})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()
