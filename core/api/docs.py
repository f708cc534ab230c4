"""The /docs page: Swagger UI (swagger-ui-dist, vendored in docs_assets/, so it works offline
and loads nothing from another host), started from /openapi.json by docs-init.js.

Nothing is read at import (cold start): the asset files are read and hashed on the first request
for the page or one of them. Each is served under a name that holds its content hash, cacheable
for a year; the page itself is revalidated, so a new build's assets are picked up at once."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from importlib.resources import files

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from core.api.problems import problem_response
from core.errors import NotFound

ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "docs-init.js": "text/javascript; charset=utf-8",
}
"""The served files of docs_assets/ and their content types."""
IMMUTABLE = "public, max-age=31536000, immutable"
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",  # swagger-ui.css draws its icons as data: images
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-cache",
    "Referrer-Policy": "no-referrer",
}
# URLs are relative to /docs, so the page also works under a path prefix (an API stage).
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fnproxy API</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="docs/assets/{css}">
</head><body>
<noscript>This page needs JavaScript; the API document is <a href="openapi.json">openapi.json</a>.
</noscript>
<div id="swagger-ui"></div>
<script src="docs/assets/{bundle}"></script>
<script src="docs/assets/{init}"></script>
</body></html>
"""


@dataclass(frozen=True)
class Asset:
    name: str
    body: bytes
    media_type: str


@functools.cache
def served_assets() -> dict[str, Asset]:
    """{hashed name (`swagger-ui.<12 hex>.css`): asset}, read once."""
    folder = files(__package__) / "docs_assets"
    assets = {}
    for name, media_type in ASSETS.items():
        body = (folder / name).read_bytes()
        stem, _, suffix = name.rpartition(".")
        hashed = f"{stem}.{hashlib.sha256(body).hexdigest()[:12]}.{suffix}"
        assets[hashed] = Asset(name, body, media_type)
    return assets


@functools.cache
def page() -> str:
    hashed = {asset.name: served for served, asset in served_assets().items()}
    return PAGE.format(
        css=hashed["swagger-ui.css"],
        bundle=hashed["swagger-ui-bundle.js"],
        init=hashed["docs-init.js"],
    )


async def docs_page(request: Request) -> Response:
    return HTMLResponse(page(), headers=PAGE_HEADERS)


async def docs_asset(request: Request) -> Response:
    name = request.path_params["name"]
    asset = served_assets().get(name)
    if asset is None:
        return problem_response(NotFound(f"no docs asset {name!r}"), request.url.path)
    return Response(asset.body, media_type=asset.media_type, headers={"Cache-Control": IMMUTABLE})


ROUTES = [
    Route("/docs", docs_page, methods=["GET"]),
    Route("/docs/assets/{name}", docs_asset, methods=["GET"]),
]
