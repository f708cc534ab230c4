"""The operator's dashboard at /dashboard: one page of plain HTML, CSS and JavaScript, written
for fnproxy (no third-party library to pin or license, nothing fetched from another host).

It holds no logic of its own on the server: the page signs in at /v1/auth/token and does
everything else through the public API with that token, so a client's scopes hold on the page as
they do for any other caller. `/` and `/ui` send a browser to it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from core.api.static import StaticPage

DASHBOARD = StaticPage(
    "dashboard",
    __package__,
    "assets",
    page="dashboard.html",
    assets=("dashboard.css", "dashboard.js"),
    extra_policy=("img-src data:",),  # the empty favicon, so the browser asks for no other
)


async def to_dashboard(request: Request) -> Response:
    """A relative Location: from `/ui` (or `/`) under a stage prefix it stays under it."""
    return RedirectResponse("dashboard", status_code=307)


ROUTES = [
    *DASHBOARD.routes(),
    Route("/", to_dashboard, methods=["GET"]),
    Route("/ui", to_dashboard, methods=["GET"]),
]
