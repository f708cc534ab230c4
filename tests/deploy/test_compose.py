"""compose.yaml, read (no container engine runs here): fnproxy from the Dockerfile with its ports,
data volume and gRPC port; the emulators each in a profile, on a pinned image, with a
healthcheck, listening where fnproxy's settings point and fnproxy waiting for them only when
their profile is up."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.deploy import dockerfile
from tests.deploy.dockerfile import GRPC_PORT, REPO

COMPOSE = REPO / "compose.yaml"
PROFILES = {"moto": "aws", "firestore": "gcp", "pubsub": "gcp", "openwhisk": "openwhisk"}
# Where fnproxy's settings point at each optional service.
ENDPOINTS = {
    "moto": "AWS_ENDPOINT_URL",
    "firestore": "FIRESTORE_EMULATOR_HOST",
    "pubsub": "PUBSUB_EMULATOR_HOST",
    "openwhisk": "OPENWHISK_API_HOST",
}
LISTEN = re.compile(r"--host-port=0\.0\.0\.0:(\d+)")


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]


def container_ports(service: dict[str, Any]) -> set[str]:
    return {str(mapping).rsplit(":", 1)[-1] for mapping in service.get("ports", [])}


def test_the_services_and_their_profiles(services) -> None:
    assert set(services) == {"fnproxy", *PROFILES}
    assert "profiles" not in services["fnproxy"], "fnproxy runs without any profile"
    for name, profile in PROFILES.items():
        assert services[name]["profiles"] == [profile], name


def test_fnproxy_is_the_image_of_the_dockerfile(services) -> None:
    fnproxy = services["fnproxy"]
    image = dockerfile.dockerfile()[-1]
    env = image.environment()
    assert fnproxy["build"] == "." and (REPO / "Dockerfile").is_file()
    assert container_ports(fnproxy) == {env["REST_PORT"], GRPC_PORT}
    assert all(m.split(":")[0] == m.split(":")[1] for m in fnproxy["ports"]), "same ports outside"
    assert fnproxy["environment"]["GRPC_PORT"] == GRPC_PORT
    [volume] = fnproxy["volumes"]
    assert volume.split(":")[1] == env["FNPROXY_DATA_DIR"]
    assert volume.split(":")[0] in yaml.safe_load(COMPOSE.read_text())["volumes"], "named volume"
    assert "healthcheck" not in fnproxy, "the image's HEALTHCHECK applies"
    assert fnproxy["init"] is True


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_each_emulator_is_pinned_and_checked_where_fnproxy_points(services, name) -> None:
    service = services[name]
    image, _, tag = service["image"].rpartition(":")
    assert image and tag and tag != "latest", service["image"]
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD" and len(test) > 1
    endpoint = services["fnproxy"]["environment"][ENDPOINTS[name]]
    address = urlsplit(endpoint if "://" in endpoint else f"//{endpoint}")
    assert address.hostname == name
    assert str(address.port) in container_ports(service), f"{name} publishes no {address.port}"
    assert str(address.port) in " ".join(test), "the healthcheck asks the port fnproxy uses"
    listening = LISTEN.findall(" ".join(service.get("command", [])))
    assert listening in ([], [str(address.port)]), f"{name} listens on {listening}"
    assert services["fnproxy"]["depends_on"][name] == {
        "condition": "service_healthy",
        "required": False,
    }


def test_the_emulators_use_a_demo_project(services) -> None:
    """Google's clients need no credentials for a demo-* project (../shared/TESTING.md)."""
    project = services["fnproxy"]["environment"]["GCP_PROJECT_ID"]
    assert project.startswith("demo-")
    for name in ("firestore", "pubsub"):
        assert f"--project={project}" in services[name]["command"]


def test_no_real_credential_is_written_in(services) -> None:
    env = services["fnproxy"]["environment"]
    assert env["AWS_ACCESS_KEY_ID"] == env["AWS_SECRET_ACCESS_KEY"] == "moto"
    assert env["OPENWHISK_AUTH_KEY"] == "${OPENWHISK_AUTH_KEY:-}", "taken from the shell"
    assert "MODULE_SECRET_KEY" not in env, "generated into the data volume"
