"""A name that carries its own location (a Lambda ARN or `name:qualifier`, a GCP resource name,
an OpenWhisk `/namespace/...` name) excludes the separate field for that part: the document
states it (if/then) and validation refuses the pair as an error of that field, whether the two
agree or not, so a schema-valid request is never the provider's bare 400 (issue 12)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from core.api.compat.gcp_module import GcpInvokeRequest
from core.api.compat.lambda_module import names_qualifier
from core.api.compat.openwhisk_module import (
    OpenWhiskActionAsyncRequest,
    OpenWhiskActionInvokeRequest,
    OpenWhiskSequenceInvokeRequest,
    OpenWhiskTriggerFireRequest,
)
from core.targets import AwsLambdaTarget, GcpFunctionsTarget, OpenWhiskTarget
from tests.api.conftest import MODULE_KEY

ARN = "arn:aws:lambda:eu-west-1:559204352738:function:g_7"
RESOURCE = "projects/my-project/locations/us-central1/functions/f"
REFUSED = [
    (AwsLambdaTarget, {"function": f"{ARN}:B1UB", "qualifier": "n0cV"}, "qualifier"),
    (AwsLambdaTarget, {"function": f"{ARN}:B1UB", "qualifier": "B1UB"}, "qualifier"),
    (AwsLambdaTarget, {"function": "my-fn:1", "qualifier": "1"}, "qualifier"),
    (AwsLambdaTarget, {"function": ARN, "region": "us-west-2"}, "region"),
    (AwsLambdaTarget, {"function": ARN, "region": "eu-west-1"}, "region"),
    (GcpFunctionsTarget, {"function": RESOURCE, "region": "europe-west1"}, "region"),
    (GcpFunctionsTarget, {"function": RESOURCE, "region": "us-central1"}, "region"),
    (GcpFunctionsTarget, {"function": RESOURCE, "project": "my-project"}, "project"),
    (GcpFunctionsTarget, {"function": RESOURCE, "project": ""}, "project"),
    (OpenWhiskTarget, {"action": "/p/pkg/act", "namespace": "_"}, "namespace"),
    (OpenWhiskTarget, {"action": "/p/pkg/act", "namespace": "p"}, "namespace"),
    (GcpInvokeRequest, {"function_name": RESOURCE, "region": "europe-west1"}, "region"),
    (GcpInvokeRequest, {"function_name": RESOURCE, "project": "my-project"}, "project"),
    (OpenWhiskActionInvokeRequest, {"action_name": "/p/a", "namespace": "p"}, "namespace"),
    (OpenWhiskActionAsyncRequest, {"action_name": "/p/pkg/act", "namespace": "_"}, "namespace"),
    (OpenWhiskSequenceInvokeRequest, {"sequence_name": "/p/s", "namespace": "q"}, "namespace"),
    (OpenWhiskTriggerFireRequest, {"trigger_name": "/p/t", "namespace": "p"}, "namespace"),
]
ACCEPTED = [
    (AwsLambdaTarget, {"function": ARN, "qualifier": "2"}),  # an ARN names no qualifier here
    (AwsLambdaTarget, {"function": "my-fn:3", "region": "us-west-2"}),  # nor a region here
    (AwsLambdaTarget, {"function": "123456789012:function:f", "region": "us-west-2"}),
    (AwsLambdaTarget, {"function": f"{ARN}:live", "qualifier": None, "region": None}),
    (AwsLambdaTarget, {"function": "arn:1", "region": "us-west-2"}),  # `arn` at qualifier 1
    (GcpFunctionsTarget, {"function": "f", "project": "my-project", "region": "us-central1"}),
    (GcpFunctionsTarget, {"function": RESOURCE, "project": None, "region": None}),
    (GcpFunctionsTarget, {"url": "https://h.example/f", "project": "my-project"}),
    (OpenWhiskTarget, {"action": "pkg/act", "namespace": "p"}),
    (OpenWhiskTarget, {"action": "/p/pkg/act", "namespace": None}),
    (GcpInvokeRequest, {"function_name": "f", "project": "my-project", "region": "us-west1"}),
    (OpenWhiskActionAsyncRequest, {"action_name": "pkg/act", "namespace": "p"}),
    (OpenWhiskTriggerFireRequest, {"trigger_name": "/p/t"}),
]


def fields(model: type[BaseModel], given: dict) -> dict:
    if model is AwsLambdaTarget:
        return {"provider": "aws_lambda", **given}
    if model is GcpFunctionsTarget:
        return {"provider": "gcp_functions", **given}
    if model is OpenWhiskTarget:
        return {"provider": "openwhisk", **given}
    return given


@pytest.mark.parametrize(("model", "given", "field"), REFUSED)
def test_a_located_name_with_the_separate_field_is_an_error_of_that_field(model, given, field):
    with pytest.raises(ValidationError) as refused:
        model.model_validate(fields(model, given))
    assert [error["loc"] for error in refused.value.errors()] == [(field,)]
    assert "names its own" in str(refused.value)


@pytest.mark.parametrize(("model", "given"), ACCEPTED)
def test_a_name_and_fields_naming_different_parts_are_accepted(model, given):
    model.model_validate(fields(model, given))


def test_the_document_states_the_rule_as_if_then():
    rules = {
        AwsLambdaTarget: ("function", {"qualifier", "region"}),
        GcpFunctionsTarget: ("function", {"project", "region"}),
        OpenWhiskTarget: ("action", {"namespace"}),
        GcpInvokeRequest: ("function_name", {"project", "region"}),
        OpenWhiskTriggerFireRequest: ("trigger_name", {"namespace"}),
    }
    for model, (name, excluded) in rules.items():
        schema = model.model_json_schema()
        stated = {
            field
            for rule in schema["allOf"]
            if name in rule.get("if", {}).get("properties", {})
            for field, value in rule.get("then", {}).get("properties", {}).items()
            if value == {"type": "null"}
        }
        assert stated == excluded, model
    assert "oneOf" in GcpFunctionsTarget.model_json_schema()  # kept beside the allOf
    assert len(OpenWhiskTarget.model_json_schema()["allOf"]) == 3


async def test_invoke_refuses_the_pair_as_a_422_naming_the_field(client, admin):
    target = {"provider": "aws_lambda", "function": f"{ARN}:B1UB", "qualifier": "n0cV"}
    response = await client.post("/v1/invoke", json={"target": target}, headers=admin)
    assert response.status_code == 422, response.text
    assert [error["loc"] for error in response.json()["errors"]] == ["target.aws_lambda.qualifier"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/gcp/api/v1/functions/invoke", {"function_name": RESOURCE, "region": "europe-west1"}),
        ("/openwhisk/api/v1/actions/invoke-async", {"action_name": "/p/pkg/act", "namespace": "_"}),
        ("/openwhisk/api/v1/actions/invoke", {"action_name": "/p/act", "namespace": "p"}),
        ("/openwhisk/api/v1/sequences/invoke", {"sequence_name": "/p/s", "namespace": "_"}),
        ("/openwhisk/api/v1/triggers/fire", {"trigger_name": "/p/t", "namespace": "_"}),
    ],
)
async def test_compat_routes_refuse_the_pair_as_a_400_naming_the_field(client, path, body):
    prefix = path.split("/api/")[0]
    token = await client.post(f"{prefix}/api/v1/auth/token", json={"api_key": MODULE_KEY})
    assert token.status_code == 200, token.text
    headers = {"Authorization": f"Bearer {token.json()['token']}"}
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code == 400, response.text
    assert "names its own" in response.text


def test_a_lambda_seed_alias_may_repeat_the_names_own_qualifier():
    """The seed's clients may give `my-fn:live` with alias `live` (Lambda took both when they
    agree): the target takes it once; a different one stays a refusal."""
    assert names_qualifier("my-fn:live", "live")
    assert names_qualifier(f"{ARN}:7", "7")
    assert not names_qualifier("my-fn:live", "prod")
    assert not names_qualifier("my-fn", "my-fn")
    assert not names_qualifier(ARN, "g_7")
