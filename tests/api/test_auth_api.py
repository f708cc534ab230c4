"""Tokens, clients, scopes and the audit trail, through HTTP."""

from __future__ import annotations

import base64
import json
import logging
import time

import jwt

from tests.api.conftest import MODULE_KEY, new_client, token_for

PROBLEM = "application/problem+json"


async def test_api_key_token_has_the_documented_shape(client):
    response = await client.post("/v1/auth/token", json={"api_key": MODULE_KEY})
    body = response.json()
    assert response.status_code == 200
    assert body["token_type"] == "Bearer" and body["scope"] == "admin" and body["expires_in"] > 0
    claims = jwt.decode(body["access_token"], MODULE_KEY, algorithms=["HS256"], audience="fnproxy")
    assert {"iss", "aud", "sub", "scope", "iat", "exp", "jti"} <= set(claims)
    assert jwt.get_unverified_header(body["access_token"])["kid"]


async def test_wrong_api_key_is_401_with_oauth_error(client):
    response = await client.post("/v1/auth/token", json={"api_key": "x" * 64})
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["error"] == "invalid_client"


async def test_client_credentials_as_json_form_and_basic(client, admin):
    created = (
        await client.post("/v1/clients", json={"name": "ci", "scopes": ["read"]}, headers=admin)
    ).json()
    cid, secret = created["client_id"], created["client_secret"]
    as_json = await client.post("/v1/auth/token", json={"client_id": cid, "client_secret": secret})
    as_form = await client.post(
        "/v1/auth/token",
        data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret},
    )
    basic = base64.b64encode(f"{cid}:{secret}".encode()).decode()
    as_basic = await client.post(
        "/v1/auth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    for response in (as_json, as_form, as_basic):
        assert response.status_code == 200, response.text
        assert response.json()["scope"] == "read"



def basic(client_id: str, client_secret: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


async def test_swagger_ui_client_credentials_request_gets_a_token(client, admin):
    """What Swagger UI's Authorize dialog sends for clientCredentials: the id and secret
    (not form-encoded) in Basic, grant_type and the ticked scopes in the form."""
    created = (
        await client.post("/v1/clients", json={"name": "ui", "scopes": ["invoke"]}, headers=admin)
    ).json()
    response = await client.post(
        "/v1/auth/token",
        content="grant_type=client_credentials&scope=invoke+read",
        headers={
            **basic(created["client_id"], created["client_secret"]),
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json, text/plain, */*",
            "X-Requested-With": "XMLHttpRequest",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "invoke"  # the client's scopes, whatever was asked


async def test_basic_credentials_are_form_urldecoded(client, admin):
    """RFC 6749 §2.3.1: a client may form-urlencode the id and secret before Base64."""
    created = (
        await client.post("/v1/clients", json={"name": "rfc", "scopes": ["read"]}, headers=admin)
    ).json()
    def encoded(text: str) -> str:  # every byte percent-encoded
        return "".join(f"%{byte:02X}" for byte in text.encode())

    response = await client.post(
        "/v1/auth/token",
        data={"grant_type": "client_credentials"},
        headers=basic(encoded(created["client_id"]), encoded(created["client_secret"])),
    )
    assert response.status_code == 200, response.text


async def test_bad_basic_header_is_401_invalid_client_without_echo(client, admin):
    created = (
        await client.post("/v1/clients", json={"name": "b", "scopes": ["read"]}, headers=admin)
    ).json()
    too_long = base64.b64encode(b"c:" + b"s" * 1024).decode()
    for header, detail in (
        ("Basic not*base64", "malformed"),
        ("Basic " + base64.b64encode(b"\xff\xfe:secret").decode(), "malformed"),  # not UTF-8
        ("Basic " + base64.b64encode(b"no-colon-here").decode(), "client_id:client_secret"),
        (basic(created["client_id"], "")["Authorization"], "client_id:client_secret"),
        ("Basic " + too_long, "too long"),
        (basic(created["client_id"], "fps_wrong")["Authorization"], "invalid client"),
    ):
        response = await client.post(
            "/v1/auth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": header},
        )
        assert response.status_code == 401, (header, response.text)
        assert response.headers["content-type"] == PROBLEM
        body = response.json()
        assert body["error"] == "invalid_client" and body["code"] == "unauthorized"
        assert detail in body["detail"]
        assert header.split()[1][:40] not in response.text, response.text


async def test_credentials_in_both_basic_and_body_are_refused(client, admin):
    """RFC 6749 §2.3.1: one authentication method per request."""
    created = (
        await client.post("/v1/clients", json={"name": "two", "scopes": ["read"]}, headers=admin)
    ).json()
    cid, secret = created["client_id"], created["client_secret"]
    for form in (
        {"client_secret": secret},
        {"client_id": "fpc_someone_else"},
        {"api_key": "x" * 64},
    ):
        response = await client.post(
            "/v1/auth/token",
            data={"grant_type": "client_credentials", **form},
            headers=basic(cid, secret),
        )
        assert response.status_code == 400, (form, response.text)
        assert response.json()["error"] == "invalid_request"
    same_id = await client.post(
        "/v1/auth/token",
        data={"grant_type": "client_credentials", "client_id": cid},
        headers=basic(cid, secret),
    )
    assert same_id.status_code == 200, same_id.text


async def test_form_with_another_grant_type_is_refused(client):
    response = await client.post("/v1/auth/token", data={"grant_type": "password"})
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


async def test_token_request_without_credentials_is_400(client):
    response = await client.post("/v1/auth/token", json={})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_wrong_client_secret_is_401(client, admin):
    created = (
        await client.post("/v1/clients", json={"name": "x", "scopes": ["read"]}, headers=admin)
    ).json()
    response = await client.post(
        "/v1/auth/token", json={"client_id": created["client_id"], "client_secret": "fps_wrong"}
    )
    assert response.status_code == 401


async def test_routes_need_a_token(client):
    response = await client.get("/v1/invocations")
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_expired_tampered_none_and_wrong_audience_tokens_are_401(client):
    now = int(time.time())
    claims = {
        "iss": "fnproxy",
        "aud": "fnproxy",
        "sub": "module",
        "scope": "admin",
        "iat": now,
        "exp": now + 60,
        "jti": "j",
    }
    good = await token_for(client)
    kid = jwt.get_unverified_header(good)["kid"]
    expired = jwt.encode(
        claims | {"iat": now - 120, "exp": now - 60}, MODULE_KEY, headers={"kid": kid}
    )
    wrong_aud = jwt.encode(claims | {"aud": "other"}, MODULE_KEY, headers={"kid": kid})
    header, payload, signature = good.split(".")
    forged_claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged_claims["scope"] = "admin read invoke"
    forged_payload = (
        base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).rstrip(b"=").decode()
    )
    tampered = f"{header}.{forged_payload}.{signature}"
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    unsigned = f"{none_header}.{payload}."
    for token in (expired, wrong_aud, tampered, unsigned, "not-a-jwt"):
        response = await client.get("/v1/stats", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token
        assert "Traceback" not in response.text


async def test_missing_scope_is_403(client, admin):
    reader = await new_client(client, admin, "read")
    invoker = await new_client(client, admin, "invoke")
    assert (await client.get("/v1/stats", headers=reader)).status_code == 200
    invoke = {"target": {"provider": "local", "function": "echo"}, "payload": {}}
    assert (await client.post("/v1/invoke", json=invoke, headers=reader)).status_code == 403
    assert (await client.get("/v1/clients", headers=invoker)).status_code == 403
    assert (await client.get("/v1/stats", headers=invoker)).status_code == 403


async def test_glob_scope_limits_which_functions_a_client_may_invoke(client, admin):
    only_hello = await new_client(client, admin, "invoke:local:hel*")
    hello = {"target": {"provider": "local", "function": "hello"}, "payload": {"name": "a"}}
    echo = {"target": {"provider": "local", "function": "echo"}, "payload": {}}
    assert (await client.post("/v1/invoke", json=hello, headers=only_hello)).status_code == 200
    assert (await client.post("/v1/invoke", json=echo, headers=only_hello)).status_code == 403


async def test_clients_list_hides_secrets_and_revocation_is_immediate(client, admin):
    created = (
        await client.post("/v1/clients", json={"name": "gone", "scopes": ["read"]}, headers=admin)
    ).json()
    token = await token_for(
        client, client_id=created["client_id"], client_secret=created["client_secret"]
    )
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/v1/stats", headers=headers)).status_code == 200
    listed = (await client.get("/v1/clients", headers=admin)).json()["clients"]
    assert created["client_id"] in {c["client_id"] for c in listed}
    assert created["client_secret"] not in json.dumps(listed)
    assert (
        await client.delete(f"/v1/clients/{created['client_id']}", headers=admin)
    ).status_code == 204
    assert (await client.get("/v1/stats", headers=headers)).status_code == 401
    assert (await client.delete("/v1/clients/cl_missing", headers=admin)).status_code == 404


async def test_clients_list_shows_uses_written_at_most_once_a_minute(client, admin):
    created = (
        await client.post("/v1/clients", json={"name": "used", "scopes": ["read"]}, headers=admin)
    ).json()
    assert created["uses"] == 0 and created["last_used_at"] is None
    token = await token_for(
        client, client_id=created["client_id"], client_secret=created["client_secret"]
    )
    for _ in range(3):
        assert (
            await client.get("/v1/stats", headers={"Authorization": f"Bearer {token}"})
        ).status_code == 200
    listed = (await client.get("/v1/clients", headers=admin)).json()["clients"]
    [used] = [c for c in listed if c["client_id"] == created["client_id"]]
    assert used["uses"] == 1  # the first use at once; the next two wait for the minute
    assert used["last_used_at"] is not None


async def test_unknown_scope_is_refused(client, admin):
    response = await client.post(
        "/v1/clients", json={"name": "x", "scopes": ["root"]}, headers=admin
    )
    assert response.status_code == 422


async def test_one_audit_line_per_request_without_secrets(client, admin, caplog):
    caplog.set_level(logging.INFO, logger="fnproxy.audit")
    await client.get(
        "/v1/stats",
        headers=admin,
    )
    await client.get("/v1/clients", headers={"Authorization": "Bearer nope"})
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "fnproxy.audit"]
    assert len(lines) == 2
    allowed, denied = lines
    assert (
        allowed["principal"] == "module"
        and allowed["decision"] == "allow"
        and allowed["outcome"] == 200
    )
    assert allowed["action"] == "GET /v1/stats" and allowed["request_id"]
    assert (
        denied["decision"] == "deny"
        and denied["outcome"] == 401
        and denied["principal"] == "anonymous"
    )
    assert "nope" not in caplog.text and MODULE_KEY not in caplog.text
