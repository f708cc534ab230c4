"""Issue 10, the cloud identities: a bare-name Lambda scope reaching another account or region,
and Google ID tokens minted for any URL a caller picks. Replayed against a live `fnproxy serve`
on the cloud egress rules, with the loopback listener standing in for the AWS Lambda endpoint
(AWS_ENDPOINT_URL) and for the GCP metadata server (GCE_METADATA_HOST), so that whatever the
server does, no byte leaves loopback and the listener shows every call that was made."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.support import METADATA_TOKEN_PATH, Listener, Server, start_server

FOREIGN_ARN = "arn:aws:lambda:eu-west-1:999999999999:function:billing-x"
LAMBDA_API = "/2015-03-31/functions/"
TOKEN_HEADERS = ("authorization", "x-serverless-authorization")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory, listener: Listener) -> Iterator[Server]:
    """fnproxy on the cloud rules with loopback opened (EGRESS_ALLOW) for the listener, which is
    also its Lambda endpoint and its GCP metadata server; no Google credentials file."""
    data_dir = tmp_path_factory.mktemp("cloud-identity") / "data"
    metadata_host = f"127.0.0.1:{listener.port}"
    started = start_server(
        data_dir,
        env={
            "EGRESS_ALLOW": "127.0.0.1/32",
            "AWS_ENDPOINT_URL": listener.url,
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "AKIDCLOUDIDENTITYTEST",
            "AWS_SECRET_ACCESS_KEY": "cloud-identity-test-secret",
            "GCP_PROJECT_ID": "demo-fnproxy",
            "GCE_METADATA_HOST": metadata_host,
            "GCE_METADATA_IP": metadata_host,
            "GOOGLE_APPLICATION_CREDENTIALS": str(Path(data_dir.parent, "no-such-key.json")),
        },
    )
    yield started
    started.stop()


def invoke(server: Server, headers: dict[str, str], target: dict) -> dict:
    with server.http() as http:
        answer = http.post("/v1/invoke", json={"target": target, "payload": {}}, headers=headers)
    return {"status": answer.status_code, "body": answer.json()}


@pytest.mark.parametrize(
    ("target", "key"),
    [
        ({"function": FOREIGN_ARN}, "aws_lambda:/eu-west-1/999999999999/billing-x"),
        (
            {"function": "999999999999:function:billing-x"},  # the default region, us-east-1
            "aws_lambda:/us-east-1/999999999999/billing-x",
        ),
        ({"function": "billing-x", "region": "eu-west-1"}, "aws_lambda:/eu-west-1/self/billing-x"),
    ],
)
def test_a_bare_name_lambda_scope_reaches_no_other_account_or_region(
    cloud: Server, listener: Listener, target: dict, key: str
) -> None:
    billing = cloud.client("invoke:aws_lambda:billing-*")

    answer = invoke(cloud, billing, {"provider": "aws_lambda", **target})

    assert answer["status"] == 403, answer
    assert answer["body"]["code"] == "forbidden" and answer["body"]["function"] == key
    assert listener.hits(LAMBDA_API) == []  # refused before any call to Lambda


def test_a_scope_naming_the_account_and_region_reaches_that_function(
    cloud: Server, listener: Listener
) -> None:
    located = cloud.client("invoke:aws_lambda:/eu-west-1/999999999999/billing-*")

    answer = invoke(cloud, located, {"provider": "aws_lambda", "function": FOREIGN_ARN})

    assert answer["status"] == 200, answer
    assert answer["body"]["success"] is True
    [call] = listener.hits(LAMBDA_API)
    assert call.path.startswith(f"{LAMBDA_API}arn%3Aaws%3Alambda%3Aeu-west-1%3A999999999999")


def test_a_gcp_url_target_off_google_carries_no_token_and_looks_up_no_credentials(
    cloud: Server, listener: Listener
) -> None:
    caller = cloud.client("invoke:gcp_functions:*")
    target = {"provider": "gcp_functions", "url": f"{listener.url}/fn", "method": "POST"}

    answer = invoke(cloud, caller, target)

    assert answer["status"] == 200, answer
    assert answer["body"]["success"] is True
    [call] = listener.hits("/fn")
    assert not set(TOKEN_HEADERS) & set(call.headers)
    assert listener.hits("/computeMetadata") == [] and listener.hits(METADATA_TOKEN_PATH) == []
    assert [request.path for request in listener.requests] == ["/fn"]  # no metadata ping either
