"""The /docs page: Swagger UI (swagger-ui-dist, vendored in docs_assets/ with its licence, so it
works offline and loads nothing from another host), started from /openapi.json by docs-init.js."""

from __future__ import annotations

from core.api.static import StaticPage

DOCS = StaticPage(
    "docs",
    __package__,
    "docs_assets",
    page="docs.html",
    assets=("swagger-ui.css", "swagger-ui-bundle.js", "docs-init.js"),
    extra_policy=("img-src 'self' data:",),  # swagger-ui.css draws its icons as data: images
)
ROUTES = DOCS.routes()
