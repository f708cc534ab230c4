"""The pages served with their own assets (/docs, /dashboard), in-process; Chromium drives them
in tests/e2e/test_docs_page.py and tests/e2e/test_dashboard_page.py."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys

import pytest

from core.api.dashboard import DASHBOARD
from core.api.docs import DOCS
from core.api.static import MEDIA_TYPES

PROBLEM = "application/problem+json"
PAGES = pytest.mark.parametrize("page", [DOCS, DASHBOARD], ids=lambda page: page.mount)


def asset_urls(page, html: str) -> list[str]:
    return re.findall(rf'(?:src|href)="({page.mount}/assets/[^"]+)"', html)


@PAGES
async def test_page_is_locked_to_its_own_origin_and_has_no_inline_script(client, page):
    response = await client.get(f"/{page.mount}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    directives = response.headers["content-security-policy"].split(";")
    policy = dict(directive.strip().split(" ", 1) for directive in directives)
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == policy["connect-src"] == policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert re.findall(r"<script(?![^>]*\bsrc=)", response.text) == []  # every script is a file
    assert re.findall(r"<style|\sstyle=", response.text) == []  # and every style
    assert "//" not in "".join(re.findall(r'(?:src|href)="([^"]*)"', response.text))


@PAGES
async def test_each_asset_is_served_under_its_content_hash_for_a_year(client, page):
    html = (await client.get(f"/{page.mount}")).text
    served = asset_urls(page, html)
    assert sorted(url.rsplit("/", 1)[1].split(".")[0] for url in served) == sorted(
        name.split(".")[0] for name in page.asset_files
    )
    for url in served:
        response = await client.get(f"/{url}")
        assert response.status_code == 200, url
        stem, digest, suffix = url.rsplit("/", 1)[1].rsplit(".", 2)
        assert f"{stem}.{suffix}" in page.asset_files
        assert response.headers["content-type"] == MEDIA_TYPES[suffix]
        assert hashlib.sha256(response.content).hexdigest().startswith(digest)
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["x-content-type-options"] == "nosniff"


@PAGES
async def test_unknown_or_stale_asset_is_a_404_problem(client, page):
    name = page.asset_files[0]
    stem, _, suffix = name.rpartition(".")
    for asked in (f"{stem}.000000000000.{suffix}", name, page.page_file, "LICENSE"):
        response = await client.get(f"/{page.mount}/assets/{asked}")
        assert response.status_code == 404, asked
        assert response.headers["content-type"] == PROBLEM


@pytest.mark.parametrize("path", ["/", "/ui"])
async def test_the_root_and_ui_send_a_browser_to_the_dashboard_relatively(client, path):
    response = await client.get(path)
    assert response.status_code == 307
    assert response.headers["location"] == "dashboard"  # under a stage prefix it stays under it


def test_importing_the_app_reads_no_asset():
    """Cold start: the pages and assets are read on the first request for them, not at import."""
    script = (
        "import sys\n"
        "opened = []\n"
        "sys.addaudithook(lambda event, args: event == 'open' and opened.append(str(args[0])))\n"
        "import core.api.app\n"
        "print([path for path in opened if 'assets' in path])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
