"""The OpenAPI 3.1 document, built from the route table on first request, and a docs page
that renders it with no external assets (it works offline)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pydantic.json_schema import models_json_schema

from core import __version__
from core.api.endpoints import AUTHENTICATED, OPTIONAL_TOKEN, PUBLIC, Endpoint
from core.api.schemas import Problem

REF_TEMPLATE = "#/components/schemas/{model}"
PATH_PARAM = re.compile(r"{(\w+)}")
HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-Id": {
        "description": "The request's id: the caller's own X-Request-Id when sane, else new",
        "required": True,
        "schema": {"type": "string"},
    },
    "X-Content-Type-Options": {
        "description": "Always nosniff",
        "required": True,
        "schema": {"type": "string", "const": "nosniff"},
    },
    "Cache-Control": {
        "description": "no-store on every answer to a request that carries an Authorization "
        "header, and on every token and client secret",
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Whole seconds to wait before trying again (the rest of a limit's "
        "window, an open circuit's cool-down, or a backend's expected recovery)",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    },
    "WWW-Authenticate": {
        "description": 'Bearer realm="fnproxy"',
        "required": True,
        "schema": {"type": "string"},
    },
}
"""Response headers (components/headers); the edge middleware adds the first three."""
EVERY_ANSWER = ("X-Request-Id", "X-Content-Type-Options", "Cache-Control")
STATUS_HEADERS = {
    "401": ("WWW-Authenticate",),
    "429": ("Retry-After",),
    "503": ("Retry-After",),
}
BACKEND_UNAVAILABLE = (
    "A backend is unavailable (store_unavailable, or service_unavailable for the secrets, "
    "events or queue): retry after Retry-After"
)


def build_openapi(endpoints: Iterable[Endpoint]) -> dict[str, Any]:
    endpoints = list(endpoints)
    models = {m for e in endpoints for m in (e.body, e.response) if m is not None} | {Problem}
    keyed, schemas = models_json_schema(
        [(model, "validation") for model in sorted(models, key=lambda m: m.__name__)],
        ref_template=REF_TEMPLATE,
    )
    refs = {model: keyed[(model, "validation")] for model in models}
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "fnproxy",
            "version": __version__,
            "description": "Invoke serverless functions on any cloud through one API.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "headers": HEADERS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


def _operation(endpoint: Endpoint, refs: dict[Any, Any]) -> dict[str, Any]:
    problem = {"application/problem+json": {"schema": refs[Problem]}}
    success: dict[str, Any] = {"description": "OK"}
    if endpoint.response is not None:
        success["content"] = {"application/json": {"schema": refs[endpoint.response]}}
    responses: dict[str, Any] = {str(endpoint.status): success}
    for status, description in endpoint.extra_responses.items():
        responses[str(status)] = {"description": description, "content": problem}
    responses.setdefault("400", {"description": "Malformed request", "content": problem})
    responses.setdefault("503", {"description": BACKEND_UNAVAILABLE, "content": problem})
    operation: dict[str, Any] = {
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "operationId": endpoint.handler.__name__,
        "parameters": _parameters(endpoint),
        "responses": responses,
    }
    if endpoint.scope == OPTIONAL_TOKEN:
        operation["security"] = [{}, {"bearer": []}]
        operation["description"] = "A token is optional; an invalid one is refused."
        responses["401"] = {"description": "Invalid token", "content": problem}
    elif endpoint.scope != PUBLIC:
        operation["security"] = [{"bearer": []}]
        responses["401"] = {"description": "Missing or invalid token", "content": problem}
        if endpoint.scope != AUTHENTICATED:
            operation["description"] = f"Needs the `{endpoint.scope}` scope."
            refused = endpoint.extra_responses.get(403)  # the route's own 403, besides the scope
            missing = f"Missing scope; or: {refused}" if refused else "Missing scope"
            responses["403"] = {"description": missing, "content": problem}
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[endpoint.body]}},
        }
    for status, response in responses.items():
        names = EVERY_ANSWER + STATUS_HEADERS.get(status, ())
        response["headers"] = {name: {"$ref": f"#/components/headers/{name}"} for name in names}
    return operation


def _parameters(endpoint: Endpoint) -> list[dict[str, Any]]:
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in PATH_PARAM.findall(endpoint.path)
    ]
    parameters += [
        {
            "name": q.name,
            "in": "query",
            "required": False,
            "description": q.description,
            "schema": {"type": q.type},
        }
        for q in endpoint.query
    ]
    return parameters


DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fnproxy API</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#222}
h1{margin-bottom:.2rem}.op{border:1px solid #ddd;border-radius:6px;margin:.6rem 0;padding:.5rem .8rem}
.m{display:inline-block;min-width:4.2rem;font-weight:700}.GET{color:#1a7f37}.POST{color:#0550ae}
.PATCH{color:#8250df}.DELETE{color:#cf222e}code{background:#f4f4f4;padding:0 .25rem}
details pre{background:#f7f7f7;padding:.6rem;overflow:auto;font-size:13px}.tag{color:#666}
</style></head><body>
<h1>fnproxy API</h1><p>The machine-readable document is <a href="/openapi.json">/openapi.json</a>.
Every route but <code>/health</code>, <code>/openapi.json</code> and this page needs
<code>Authorization: Bearer &lt;token&gt;</code> from <code>POST /v1/auth/token</code>.</p>
<div id="ops">Loading&hellip;</div>
<script>
fetch('/openapi.json').then(r=>r.json()).then(doc=>{
  const out=[], esc=s=>String(s).replace(/[&<>]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;'}[c]));
  for(const [path,ops] of Object.entries(doc.paths)) for(const [m,op] of Object.entries(ops)){
    const M=m.toUpperCase(), body=op.requestBody?op.requestBody.content['application/json'].schema.$ref:null;
    const schema=body?doc.components.schemas[body.split('/').pop()]:null;
    out.push(`<div class="op"><span class="m ${M}">${M}</span><code>${esc(path)}</code>
      <span class="tag">[${esc(op.tags.join(', '))}]</span> ${esc(op.summary)}
      ${op.description?'<br><em>'+esc(op.description)+'</em>':''}
      <br>Responses: ${Object.keys(op.responses).join(', ')}
      ${schema?'<details><summary>Request body</summary><pre>'+esc(JSON.stringify(schema,null,2))+'</pre></details>':''}</div>`);
  }
  document.getElementById('ops').innerHTML=out.join('');
});
</script></body></html>
"""
