"""The Lambda zip keeps botocore's models of deploy/build.py's AWS_SERVICES alone: every
service fnproxy's code makes a client of must be one of them, or the Lambda would fail on its
first call of that service (`UnknownServiceError`)."""

from __future__ import annotations

import re
from pathlib import Path

from deploy.build import AWS_SERVICES, prune_botocore_data

CORE = Path(__file__).resolve().parents[2] / "core"
CLIENT_OF = re.compile(
    r"""(?:PooledClient|aws_client|available_regions)\(\s*["']([a-z0-9-]+)["']"""
)


def services_the_code_uses() -> set[str]:
    return {
        service
        for module in CORE.rglob("*.py")
        for service in CLIENT_OF.findall(module.read_text(encoding="utf-8"))
    }


def test_every_service_the_code_makes_a_client_of_keeps_its_model():
    used = services_the_code_uses()

    assert {"dynamodb", "lambda", "sns"} <= used
    assert used <= set(AWS_SERVICES)


def test_pruning_keeps_the_services_and_the_shared_data(tmp_path):
    data = tmp_path / "botocore" / "data"
    for folder in ("dynamodb", "ec2", "sns"):
        (data / folder / "2012-08-10").mkdir(parents=True)
    (data / "endpoints.json").write_text("{}")

    prune_botocore_data(tmp_path, ("dynamodb", "sns"))

    assert sorted(p.name for p in data.iterdir()) == ["dynamodb", "endpoints.json", "sns"]
