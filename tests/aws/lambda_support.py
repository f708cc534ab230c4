"""Helpers for tests that need Lambda functions in the session's moto server (`moto_url`).

Every resource gets a unique name: the moto server is shared by all tests of a session.
Lambda runs on moto's simple backend there (see tests/conftest.py): RequestResponse echoes the
payload, Event answers 202 and DryRun 204, whatever the code in the zip.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from typing import Any

import boto3

REGION = "us-east-1"
RUNTIME = "python3.12"
ECHO_SOURCE = "def handler(event, context):\n    return event\n"
ASSUME_ROLE_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def aws_client(service: str, moto_url: str, region: str = REGION) -> Any:
    return boto3.client(service, region_name=region, endpoint_url=moto_url)


def zipped(source: str = ECHO_SOURCE, module: str = "app") -> bytes:
    """A deployment package holding one module."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{module}.py", source)
    return buffer.getvalue()


def create_role(moto_url: str) -> str:
    """A new execution role Lambda may assume; its ARN."""
    iam = aws_client("iam", moto_url)
    role = iam.create_role(
        RoleName=unique("fnproxy-lambda"), AssumeRolePolicyDocument=ASSUME_ROLE_POLICY
    )
    return role["Role"]["Arn"]


def create_function(
    moto_url: str, role_arn: str, region: str = REGION, prefix: str = "fnproxy-fn", **settings: Any
) -> dict[str, Any]:
    """A new echo function (`app.handler`); its configuration as Lambda answers it."""
    config = aws_client("lambda", moto_url, region).create_function(
        FunctionName=unique(prefix),
        Runtime=RUNTIME,
        Role=role_arn,
        Handler="app.handler",
        Code={"ZipFile": zipped()},
        **settings,
    )
    config.pop("ResponseMetadata", None)
    return config


def publish_version(moto_url: str, function_name: str, region: str = REGION) -> str:
    """Publish the function's current code and configuration; the new version number."""
    client = aws_client("lambda", moto_url, region)
    return client.publish_version(FunctionName=function_name)["Version"]


def create_alias(
    moto_url: str, function_name: str, version: str, name: str, region: str = REGION
) -> None:
    aws_client("lambda", moto_url, region).create_alias(
        FunctionName=function_name, Name=name, FunctionVersion=version
    )
