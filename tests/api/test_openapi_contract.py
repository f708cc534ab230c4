"""The OpenAPI document as a contract: valid, unique operation ids, every answer typed, every
status with its headers, and the query parameters it declares exactly those routes read."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from core.api.app import all_endpoints
from core.api.openapi import build_openapi


@pytest.fixture(scope="module")
def document():
    return build_openapi(all_endpoints())


def operations(document):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_the_document_validates_as_openapi_3_1(document):
    validate(document)


def test_operation_ids_are_unique(document):
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids))


RAW_ANSWERS = {"/v1/blobs/{token}"}
"""Routes whose answer is bytes of the content type stored with them."""
TEXT_ANSWERS = {"/metrics"}
"""Routes whose answer is text/plain (Prometheus' exposition format)."""


def test_every_success_but_204_has_a_json_schema(document):
    for path, method, operation in operations(document):
        for status, answer in operation["responses"].items():
            if path in RAW_ANSWERS:
                assert status != "200" or "*/*" in answer["content"], path
            elif path in TEXT_ANSWERS and status == "200":
                assert list(answer["content"]) == ["text/plain"], path
            elif status.startswith("2") and status != "204":
                schema = answer["content"]["application/json"]["schema"]
                assert "$ref" in schema, (method, path, status)


def test_every_error_is_problem_json_and_throttles_say_when_to_retry(document):
    for path, method, operation in operations(document):
        for status, answer in operation["responses"].items():
            if int(status) >= 400 and not (path.endswith("health") and status == "503"):
                assert list(answer["content"]) == ["application/problem+json"], (path, status)
            if status in ("429", "503"):
                assert "Retry-After" in answer["headers"], (method, path, status)


def test_bodies_document_400_413_and_422_and_secured_routes_401(document):
    for path, method, operation in operations(document):
        statuses = set(operation["responses"])
        if "requestBody" in operation:
            seed = path.startswith(("/lambda", "/gcp", "/openwhisk"))  # the seeds' 400s
            assert {"400", "413"} | (set() if seed else {"422"}) <= statuses, (method, path)
            assert ("422" in statuses) != seed, (method, path)
        if operation.get("security"):
            assert "401" in statuses, (method, path)


def test_problem_declares_its_extension_members(document):
    members = document["components"]["schemas"]["Problem"]["properties"]
    for name in (
        "errors",
        "execution_id",
        "attempts",
        "function",
        "required_scope",
        "retry_after_s",
    ):
        assert name in members, name


def test_oauth2_names_the_token_url_and_each_operation_its_scope(document):
    flow = document["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "/v1/auth/token" and {"admin", "read", "invoke"} <= set(
        flow["scopes"]
    )
    stats = document["paths"]["/v1/stats"]["get"]["security"]
    assert {"oauth2": ["read"]} in stats


def test_headers_are_declared_where_they_are_read_or_sent(document):
    invoke = document["paths"]["/v1/invoke"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in invoke["parameters"])
    assert "Location" in invoke["responses"]["202"]["headers"]
    assert "Idempotent-Replayed" in invoke["responses"]["200"]["headers"]
    update = document["paths"]["/v1/sessions/{session_id}"]["patch"]
    if_match = next(p for p in update["parameters"] if p["name"] == "If-Match")
    assert if_match["required"] is True and "ETag" in update["responses"]["200"]["headers"]
    version = document["paths"]["/v1/functions/{name}/versions/{version}"]["get"]
    assert version["parameters"][1]["schema"]["type"] == "integer"


async def test_every_documented_query_parameter_is_accepted(client, admin):
    """The validation is as strict as the document: no declared parameter is refused as
    unknown (a parameter the document leaves out is refused: test_history_api)."""
    for endpoint in all_endpoints():
        if endpoint.method != "GET" or "{" in endpoint.path or not endpoint.query:
            continue
        names = "&".join(f"{q.name}=" for q in endpoint.query)
        answer = await client.get(f"{endpoint.path}?{names}", headers=admin)
        assert "unknown query parameter" not in answer.text, endpoint.path


def test_a_cloud_deployment_states_its_https_callbacks_and_batch_size():
    document = build_openapi(all_endpoints(), max_batch_size=7, https_callbacks=True)
    schemas = document["components"]["schemas"]
    assert schemas["BatchRequest"]["properties"]["invocations"]["maxItems"] == 7
    callback = str(schemas["InvokeRequest"]["properties"]["callback_url"])
    assert "^https://" in callback and "^https?://" not in callback
    local = build_openapi(all_endpoints())
    assert "^https?://" in str(local["components"]["schemas"]["InvokeRequest"])


async def test_a_stats_series_step_is_documented_in_the_deployments_buckets(client, admin):
    document = build_openapi(all_endpoints(), stats_bucket_s=900)
    [step] = [
        p for p in document["paths"]["/v1/stats/series"]["get"]["parameters"] if p["name"] == "step"
    ]
    assert step["schema"]["multipleOf"] == 900 and step["schema"]["minimum"] == 900
    served = (await client.get("/openapi.json")).json()
    bucket_s = served["paths"]["/v1/stats/series"]["get"]["parameters"]
    [served_step] = [p["schema"] for p in bucket_s if p["name"] == "step"]
    off_bucket = served_step["multipleOf"] + 1
    answer = await client.get(f"/v1/stats/series?step={off_bucket}", headers=admin)
    assert answer.status_code == 400
    answer = await client.get(f"/v1/stats/series?step={served_step['multipleOf']}", headers=admin)
    assert answer.status_code == 200, answer.text


def test_metrics_answer_text_for_a_read_token_and_problems_otherwise(document):
    operation = document["paths"]["/metrics"]["get"]
    assert operation["security"] and "read" in operation["description"]
    problems = {status for status in operation["responses"] if status != "200"}
    assert {"401", "403"} <= problems
    for status in problems:
        assert list(operation["responses"][status]["content"]) == ["application/problem+json"]
