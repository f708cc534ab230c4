"""Terraform itself on the roots (issue 17): planning the AWS root needs nothing of Google and
no credentials, and the GCP root needs nothing of AWS.

The machine is offline. The only provider at hand is hashicorp/aws 5.100.0, in a filesystem
mirror (/opt/tf-plugins); the roots lock hashicorp/aws 6.30.0, which no mirror here holds, so
`terraform init` cannot install a provider. Instead a CLI configuration of our own points
hashicorp/aws at the 5.100 binary (dev_overrides, which skip the version constraint and the
lock file), `terraform get` installs the local modules (init's other half) and then:

- `terraform providers` lists, per root, the providers Terraform itself finds required;
- `terraform validate` of the AWS roots as they are reports only what 5.100 is too old for
  (NEWER_THAN_MIRROR), and nothing else;
- with those arguments taken out of a copy, `terraform validate` passes and `terraform test`
  plans and applies each AWS root against `mock_provider "aws"` (terraform/aws_root.tftest.hcl
  here): the variables, count and for_each, preconditions and file reads of the real roots.

Every command runs on a copy of terraform/ in a temporary folder, with no AWS_*, GOOGLE_*,
CLOUDSDK_* or TF_* variable and HOME in that folder (no ~/.aws, no gcloud configuration). No
Google provider is available offline, so the GCP roots are checked by `terraform providers` only.
Without terraform or the mirror the tests skip, and fail in CI (CI is set).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploy import build
from tests.deploy.test_wiring import CLOUDS, ENVS, TERRAFORM

TERRAFORM_BIN = shutil.which("terraform")
MIRROR = Path("/opt/tf-plugins")
AWS_PROVIDER = MIRROR / "registry.terraform.io/hashicorp/aws/5.100.0/linux_amd64"
TFTEST = Path(__file__).parent / "terraform" / "aws_root.tftest.hcl"
# Arguments the AWS module uses that the mirror's hashicorp/aws 5.100 does not know, and the
# provider version that added each: (resource type, argument) -> version.
NEWER_THAN_MIRROR = {("aws_lambda_permission", "invoked_via_function_url"): "6.28.0"}
SCRUBBED = ("AWS_", "GOOGLE_", "CLOUDSDK_", "TF_")
PROVIDER_LINE = re.compile(r"provider\[([^\]]+)\]")


def require_offline_terraform() -> None:
    missing = [
        what
        for what, present in (
            ("terraform on PATH", TERRAFORM_BIN is not None),
            (str(AWS_PROVIDER), AWS_PROVIDER.is_dir()),
        )
        if not present
    ]
    if missing:
        message = f"offline Terraform checks need {' and '.join(missing)}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@dataclass
class Workspace:
    """A copy of terraform/ (and a stand-in Lambda artifact) where Terraform runs offline."""

    folder: Path
    environment: dict[str, str]

    def root(self, env: str, cloud: str) -> Path:
        return self.folder / "terraform" / "envs" / env / cloud

    def terraform(self, root: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
        environment = {**self.environment, "TF_DATA_DIR": str(root / ".terraform-test")}
        return subprocess.run(
            [str(TERRAFORM_BIN), *arguments, "-no-color"],
            cwd=root,
            env=environment,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def get_modules(self, root: Path) -> None:
        result = self.terraform(root, "get")
        assert result.returncode == 0, result.stdout + result.stderr

    def validate(self, root: Path) -> dict:
        self.get_modules(root)
        result = self.terraform(root, "validate", "-json")
        return json.loads(result.stdout)


def make_workspace(folder: Path) -> Workspace:
    # Without the lock files: Terraform wants every locked provider installed, and no Google
    # package is at hand (test_wiring.py checks the lock files; dev_overrides skip them anyway).
    ignored = shutil.ignore_patterns(".terraform", ".terraform.lock.hcl")
    shutil.copytree(TERRAFORM, folder / "terraform", ignore=ignored)
    artifact = folder / "build" / build.AWS_ZIP
    artifact.parent.mkdir(parents=True)
    with zipfile.ZipFile(artifact, "w") as archive:
        archive.writestr("handlers/aws_lambda.py", "def handler(event, context): ...\n")
    config = folder / "terraform.rc"
    config.write_text(
        "provider_installation {\n"
        f'  dev_overrides {{ "hashicorp/aws" = "{AWS_PROVIDER}" }}\n'
        f'  filesystem_mirror {{ path = "{MIRROR}" }}\n'
        "}\n",
        encoding="utf-8",
    )
    (folder / "home").mkdir()
    environment = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED)}
    environment.update(
        HOME=str(folder / "home"),
        TF_CLI_CONFIG_FILE=str(config),
        TF_PLUGIN_CACHE_DIR=str(folder / "plugin-cache"),
        TF_IN_AUTOMATION="1",
        CHECKPOINT_DISABLE="1",
    )
    (folder / "plugin-cache").mkdir()
    return Workspace(folder, environment)


def without_newer_arguments(workspace: Workspace) -> Workspace:
    """The workspace with NEWER_THAN_MIRROR's arguments taken out of the AWS module (each must be
    there, on a line of its own)."""
    module = workspace.folder / "terraform" / "modules" / "aws"
    for _, argument in NEWER_THAN_MIRROR:
        line = re.compile(rf"^\s*{argument}\s*=.*\n", re.MULTILINE)
        hits = [tf for tf in module.glob("*.tf") if line.search(tf.read_text(encoding="utf-8"))]
        assert len(hits) == 1, f"{argument} is not set once in modules/aws: {hits}"
        hits[0].write_text(line.sub("", hits[0].read_text(encoding="utf-8")), encoding="utf-8")
    return workspace


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    require_offline_terraform()
    return make_workspace(tmp_path_factory.mktemp("terraform-as-is"))


@pytest.fixture(scope="module")
def for_the_mirror(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    require_offline_terraform()
    return without_newer_arguments(make_workspace(tmp_path_factory.mktemp("terraform-5-100")))


def errors(report: dict) -> list[dict]:
    return [d for d in report["diagnostics"] if d["severity"] == "error"]


def unsupported_argument(diagnostic: dict) -> tuple[str, str]:
    """(resource type, argument) of an "Unsupported argument" error; else (summary, detail)."""
    if diagnostic["summary"] != "Unsupported argument":
        return diagnostic["summary"], diagnostic["detail"]
    kind = re.search(r'resource "([a-z0-9_]+)"', diagnostic["snippet"]["context"])
    argument = re.search(r'argument named "([a-z0-9_]+)"', diagnostic["detail"])
    return kind.group(1), argument.group(1)


@pytest.mark.parametrize("env", ENVS)
def test_terraform_finds_each_root_needs_its_own_provider_only(
    pristine: Workspace, env: str
) -> None:
    for cloud, provider in CLOUDS.items():
        root = pristine.root(env, cloud)
        pristine.get_modules(root)
        result = pristine.terraform(root, "providers")
        assert result.returncode == 0, result.stdout + result.stderr
        registry = {p for p in PROVIDER_LINE.findall(result.stdout) if "/builtin/" not in p}
        assert registry == {f"registry.terraform.io/{s}" for s in provider.values()}, (
            f"envs/{env}/{cloud}: {result.stdout}"
        )


@pytest.mark.parametrize("env", ENVS)
def test_the_mirror_lacks_only_the_listed_arguments(pristine: Workspace, env: str) -> None:
    """The unchanged AWS root fails validation on 5.100 exactly where NEWER_THAN_MIRROR says, so
    the copy the other tests validate differs from the real one in those arguments only."""
    report = pristine.validate(pristine.root(env, "aws"))
    assert {unsupported_argument(e) for e in errors(report)} == set(NEWER_THAN_MIRROR)


@pytest.mark.parametrize("env", ENVS)
def test_aws_root_validates_and_plans_without_credentials(
    for_the_mirror: Workspace, env: str
) -> None:
    root = for_the_mirror.root(env, "aws")
    (root / "tests").mkdir()
    shutil.copy(TFTEST, root / "tests" / TFTEST.name)  # before `terraform get`: it runs modules
    report = for_the_mirror.validate(root)
    assert report["valid"] and not errors(report), errors(report)

    result = for_the_mirror.terraform(root, "test")
    output = result.stdout + result.stderr
    runs = len(re.findall(r'^run "', TFTEST.read_text(encoding="utf-8"), re.MULTILINE))
    assert result.returncode == 0, output
    assert f"Success! {runs} passed, 0 failed." in output, output
