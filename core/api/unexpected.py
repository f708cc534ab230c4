"""What the 500 path's log line tells of the request an unexpected error broke: its
`http_request` (Error Reporting's `context.httpRequest` fields: method, URL without its query,
the 500 answered, user agent, the caller's address). No header value but the user agent, never
the query (a signed URL's signature), and a blob link's token is left out of the path as in the
audit line. `core.api.endpoints` logs the error with it; the GCP entry writes that line as an
Error Reporting event (`handlers.gcp_function`), and on AWS powertools adds the Lambda request
id (`function_request_id`)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from core.api.middleware import audited_path

HTTP_REQUEST = "http_request"
"""The log record attribute (`extra`) holding the request's context."""


def http_request_context(request: Request) -> dict[str, Any]:
    url = request.url
    context: dict[str, Any] = {
        "method": request.method,
        "url": f"{url.scheme}://{url.netloc}{audited_path(url.path)}",
        "responseStatusCode": 500,
    }
    user_agent = request.headers.get("user-agent")
    if user_agent:
        context["userAgent"] = user_agent
    if request.client is not None:
        context["remoteIp"] = request.client.host
    return context
