"""A page served with its own static assets (the /docs page, the /dashboard): offline, loading
nothing from another host, locked to its own origin by a Content-Security-Policy.

Nothing is read at import (cold start): the page and its asset files are read and hashed on the
first request for one of them. Each asset is served under a name that holds its content hash,
cacheable for a year; the page itself is revalidated, so a new build's assets are picked up at
once. Asset URLs are relative (`<mount>/assets/...`), so a page also works under a path prefix
(an API Gateway stage)."""

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

IMMUTABLE = "public, max-age=31536000, immutable"
MEDIA_TYPES = {
    "css": "text/css; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "svg": "image/svg+xml",
}
SAME_ORIGIN_ONLY = (
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
)
"""The Content-Security-Policy directives every page gets; a page may add its own."""


@dataclass(frozen=True)
class Asset:
    name: str
    body: bytes
    media_type: str


class StaticPage:
    """The page `<mount>` (the HTML file `page` of `package`'s `folder`, whose `{asset[NAME]}`
    fields become the hashed names of the files `assets`) and `<mount>/assets/<hashed name>`."""

    def __init__(
        self,
        mount: str,
        package: str,
        folder: str,
        page: str,
        assets: tuple[str, ...],
        extra_policy: tuple[str, ...] = (),
    ) -> None:
        self.mount, self.package, self.folder = mount, package, folder
        self.page_file, self.asset_files = page, assets
        self.headers = {
            "Content-Security-Policy": "; ".join((*SAME_ORIGIN_ONLY, *extra_policy)),
            "Cache-Control": "no-cache",
            "Referrer-Policy": "no-referrer",
        }

    @functools.cached_property
    def served_assets(self) -> dict[str, Asset]:
        """{hashed name (`app.<12 hex>.js`): asset}, read once."""
        folder = files(self.package) / self.folder
        assets = {}
        for name in self.asset_files:
            body = (folder / name).read_bytes()
            stem, _, suffix = name.rpartition(".")
            hashed = f"{stem}.{hashlib.sha256(body).hexdigest()[:12]}.{suffix}"
            assets[hashed] = Asset(name, body, MEDIA_TYPES[suffix])
        return assets

    @functools.cached_property
    def html(self) -> str:
        template = (files(self.package) / self.folder / self.page_file).read_text("utf-8")
        hashed = {asset.name: served for served, asset in self.served_assets.items()}
        return template.format(asset=hashed)

    async def page(self, request: Request) -> Response:
        return HTMLResponse(self.html, headers=self.headers)

    async def asset(self, request: Request) -> Response:
        name = request.path_params["name"]
        asset = self.served_assets.get(name)
        if asset is None:
            return problem_response(NotFound(f"no {self.mount} asset {name!r}"), request.url.path)
        headers = {"Cache-Control": IMMUTABLE}
        return Response(asset.body, media_type=asset.media_type, headers=headers)

    def routes(self) -> list[Route]:
        return [
            Route(f"/{self.mount}", self.page, methods=["GET"]),
            Route(f"/{self.mount}/assets/{{name}}", self.asset, methods=["GET"]),
        ]
