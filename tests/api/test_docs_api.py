"""The /docs page and its assets, in-process (tests/e2e/test_docs_page.py drives it in Chromium)."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys

from core.api.docs import ASSETS

PROBLEM = "application/problem+json"
ASSET_URL = re.compile(r'(?:src|href)="(docs/assets/[^"]+)"')


async def test_page_is_locked_to_its_own_origin_and_has_no_inline_script(client):
    response = await client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    directives = response.headers["content-security-policy"].split(";")
    policy = dict(directive.strip().split(" ", 1) for directive in directives)
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == policy["connect-src"] == policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert re.findall(r"<script(?![^>]*\bsrc=)", response.text) == []  # every script is a file
    assert "//" not in "".join(re.findall(r'(?:src|href)="([^"]*)"', response.text))


async def test_each_asset_is_served_under_its_content_hash_for_a_year(client):
    page = (await client.get("/docs")).text
    served = ASSET_URL.findall(page)
    assert len(served) == len(ASSETS)
    for url in served:
        response = await client.get(f"/{url}")
        assert response.status_code == 200, url
        stem, digest, suffix = url.rsplit("/", 1)[1].rsplit(".", 2)
        assert ASSETS[f"{stem}.{suffix}"] == response.headers["content-type"]
        assert hashlib.sha256(response.content).hexdigest().startswith(digest)
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["x-content-type-options"] == "nosniff"


async def test_unknown_or_stale_asset_is_a_404_problem(client):
    for name in ("swagger-ui-bundle.000000000000.js", "swagger-ui-bundle.js", "LICENSE"):
        response = await client.get(f"/docs/assets/{name}")
        assert response.status_code == 404, name
        assert response.headers["content-type"] == PROBLEM


def test_importing_the_app_reads_no_asset():
    """Cold start: the assets are read on the first request for them, not at import."""
    script = (
        "import sys\n"
        "opened = []\n"
        "sys.addaudithook(lambda event, args: event == 'open' and opened.append(str(args[0])))\n"
        "import core.api.app\n"
        "print([path for path in opened if 'docs_assets' in path])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
