"""Tokens (client credentials, OAuth2 form, or the module's api key) and client management."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.responses import Response

from core.api.endpoints import PUBLIC, Call, Endpoint, read_body, read_json
from core.api.responses import JSONResponse
from core.api.schemas import ClientCreate, TokenRequest, TokenResponse
from core.api.views import ClientCreated, ClientList, ClientSigV4
from core.auth.basic import basic_credentials
from core.auth.scopes import validate_scopes
from core.errors import FnproxyError, InvalidRequest
from core.models import Client, iso

FORM_TYPE = "application/x-www-form-urlencoded"
THROTTLED = {429: "Too many failed attempts from this client id or address (see Retry-After)"}
"""The answer every token route documents: failed attempts are throttled (core.auth.throttle)."""


async def issue_token(call: Call) -> JSONResponse:
    try:
        request = await _token_request(call)
        auth = call.services.auth
        if request.api_key is not None:
            grant = await auth.token_for_api_key(request.api_key, source=call.source)
        elif request.client_id and request.client_secret:
            grant = await auth.token_for_client(
                request.client_id, request.client_secret, source=call.source
            )
        else:
            raise InvalidRequest("give client_id and client_secret, or api_key")
    except FnproxyError as error:
        error.extra.setdefault("error", _oauth_error(error))
        raise
    return JSONResponse(
        {
            "access_token": grant.access_token,
            "token_type": grant.token_type,
            "expires_in": grant.expires_in,
            "scope": grant.scope,
        },
        headers={"Cache-Control": "no-store"},
    )


async def _token_request(call: Call) -> TokenRequest:
    limit = call.services.settings.max_request_bytes
    if call.request.headers.get("content-type", "").startswith(FORM_TYPE):
        fields = dict(parse_qsl((await read_body(call.request, limit)).decode("utf-8", "replace")))
        if fields.get("grant_type") != "client_credentials":
            raise InvalidRequest(
                "grant_type must be client_credentials", error="unsupported_grant_type"
            )
        basic = basic_credentials(call.request.headers.get("authorization"))
        if basic is not None:
            client_id, client_secret = basic
            if {"client_secret", "api_key"} & fields.keys() or (
                fields.get("client_id", client_id) != client_id
            ):
                raise InvalidRequest("give the client credentials once: Basic header or form body")
            fields.update(client_id=client_id, client_secret=client_secret)
    else:
        fields = await read_json(call.request, limit)
        if not isinstance(fields, dict):
            raise InvalidRequest("request body must be a JSON object")
    return TokenRequest.model_validate(fields)


def _oauth_error(error: FnproxyError) -> str:
    if error.status == 401:
        return "invalid_client"
    if error.status == 429:
        return "temporarily_unavailable"
    return "invalid_request"


def _client_view(client: Client) -> dict:
    return {
        "client_id": client.client_id,
        "name": client.name,
        "scopes": client.scopes,
        "created_at": iso(client.created_at),
        "created_by": client.created_by,
        "revoked_at": iso(client.revoked_at),
        "uses": client.uses,
        "last_used_at": iso(client.last_used_at),
    }


async def create_client(call: Call) -> JSONResponse:
    body: ClientCreate = call.body
    client, secret, sigv4_secret = await call.services.clients.create(
        body.name, validate_scopes(body.scopes), call.principal.subject
    )
    view = _client_view(client) | {"client_secret": secret, "sigv4_secret": sigv4_secret}
    return JSONResponse(view, status_code=201, headers={"Cache-Control": "no-store"})


async def renew_sigv4_secret(call: Call) -> JSONResponse:
    client_id = call.path("client_id")
    secret = await call.services.clients.renew_sigv4(client_id)
    return JSONResponse(
        {"client_id": client_id, "sigv4_secret": secret}, headers={"Cache-Control": "no-store"}
    )


async def list_clients(call: Call) -> JSONResponse:
    clients = await call.services.clients.list()
    return JSONResponse({"clients": [_client_view(c) for c in clients]})


async def revoke_client(call: Call) -> Response:
    await call.services.clients.revoke(call.path("client_id"))
    return Response(status_code=204)


ENDPOINTS = [
    Endpoint(
        "POST",
        "/v1/auth/token",
        issue_token,
        "Get a bearer token",
        "auth",
        scope=PUBLIC,
        body=TokenRequest,
        custom_body=True,
        response=TokenResponse,
        extra_responses={
            400: "Malformed request, or neither client credentials nor api_key "
            "(invalid_request, unsupported_grant_type)",
            401: "Bad credentials (invalid_client)",
            **THROTTLED,
        },
    ),
    Endpoint(
        "POST",
        "/v1/clients",
        create_client,
        "Create an API client (its secret is shown once)",
        "clients",
        scope="admin",
        body=ClientCreate,
        response=ClientCreated,
        status=201,
    ),
    Endpoint(
        "GET",
        "/v1/clients",
        list_clients,
        "List API clients",
        "clients",
        scope="admin",
        response=ClientList,
    ),
    Endpoint(
        "POST",
        "/v1/clients/{client_id}/sigv4",
        renew_sigv4_secret,
        "Give a client a new SigV4 secret (the Lambda API front's); the former one stops "
        "signing at once, the new one is shown once",
        "clients",
        scope="admin",
        response=ClientSigV4,
        extra_responses={404: "Unknown client", 409: "The client is revoked"},
    ),
    Endpoint(
        "DELETE",
        "/v1/clients/{client_id}",
        revoke_client,
        "Revoke a client; its tokens stop working at once",
        "clients",
        scope="admin",
        status=204,
        extra_responses={404: "Unknown client"},
    ),
]
