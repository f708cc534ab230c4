"""cloudbuild.yaml against what it deploys (issue 17): every substitution its header documents is
defined and reaches a step; the Terraform path applies the GCP-only root of the environment with
the operator's tfvars from the state bucket and each substitution as a -var of that root (after
the -var-file, so it wins); the substitutions' defaults are the dev root's and the prod values
the header lists are the prod root's; the build account's roles it names are the ones the module
grants; both paths build the functions as that account.

Offline: cloudbuild.yaml read with PyYAML, Terraform with python-hcl2 (tests/deploy/test_wiring.py's
reader).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml

from tests.deploy.test_wiring import (
    ENVS,
    GCP_MODULE,
    ROOT,
    Module,
    env_root,
    expression,
    load_module,
    required_providers,
)

CLOUDBUILD = ROOT / "cloudbuild.yaml"
GCP_ROOTS = {env: env_root(env, "gcp") for env in ENVS}
# The header's `#   _NAME   text [root_variable]` entries (continuation lines included).
DOCUMENTED = re.compile(r"^#\s{3}(_[A-Z_]+)\s+(.*?)(?=^#\s{3}_[A-Z]|^#\s[A-Z]|\Z)", re.M | re.S)
ROOT_VARIABLE = re.compile(r"\[(gcp_[a-z0-9_]+)\]")
PROD_VALUES = re.compile(r"For prod pass prod's: (.*?)\.\n#\s*\n", re.S)
BUILD_ROLES = re.compile(r"The functions are built by <prefix>-build.*?(?=\n#\s*\n)", re.S)


@pytest.fixture(scope="module")
def build() -> dict[str, Any]:
    return yaml.safe_load(CLOUDBUILD.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def header() -> str:
    text = CLOUDBUILD.read_text(encoding="utf-8")
    return text[: text.index("\nsubstitutions:")]


@pytest.fixture(scope="module")
def roots() -> dict[str, Module]:
    return {env: load_module(path) for env, path in GCP_ROOTS.items()}


def documented(header: str) -> dict[str, str]:
    """Substitution -> its documentation in the header."""
    return {name: " ".join(text.split()) for name, text in DOCUMENTED.findall(header)}


def root_variables(header: str) -> dict[str, str]:
    """Substitution -> the root variable it sets with terraform, as the header names it."""
    found = {name: ROOT_VARIABLE.findall(text) for name, text in documented(header).items()}
    return {name: variables[0] for name, variables in found.items() if variables}


def step(build: dict[str, Any], step_id: str) -> dict[str, Any]:
    [found] = [s for s in build["steps"] if s.get("id") == step_id]
    return found


def step_env(body: dict[str, Any]) -> dict[str, str]:
    return dict(entry.split("=", 1) for entry in body.get("env", []))


def script(body: dict[str, Any]) -> str:
    return body["args"][-1]


def uses(text: str, substitution: str) -> bool:
    return re.search(rf"\${re.escape(substitution)}(?![A-Z0-9_])", text) is not None


def as_terraform(value: str) -> Any:
    """A substitution's text as the root variable receives it (the step strips a unit `s`)."""
    if value in ("true", "false"):
        return value == "true"
    number = value.removesuffix("s")
    return int(number) if number.isdigit() else value


# --- substitutions ------------------------------------------------------------------------------


def test_every_documented_substitution_is_defined_and_used(build, header) -> None:
    names = set(documented(header))
    assert names == set(build["substitutions"]), "documented and defined substitutions differ"
    steps = json.dumps(build["steps"])
    unused = sorted(name for name in names if not uses(steps, name))
    assert not unused, f"substitutions no step uses: {unused}"


def test_a_substitution_without_a_step_would_fail(build, header) -> None:
    steps = json.dumps(build["steps"]).replace("$_HISTORY_RETENTION_DAYS", "7")
    assert not uses(steps, "_HISTORY_RETENTION_DAYS")
    assert uses(steps, "_API_MAX_INSTANCES") and not uses("$_API_MAX_INSTANCESX", "_API_MAX")


def test_defaults_are_the_dev_root_and_prod_values_the_prod_root(build, header, roots) -> None:
    listed = PROD_VALUES.search(header).group(1).replace("\n#", " ")
    prod = dict(pair.strip().split("=", 1) for pair in listed.split(","))
    assert set(prod) <= set(root_variables(header)), f"prod values of no root variable: {prod}"
    for substitution, variable in root_variables(header).items():
        dev_default = as_terraform(str(build["substitutions"][substitution]))
        prod_value = as_terraform(prod.get(substitution, str(build["substitutions"][substitution])))
        assert roots["dev"].variables[variable].get("default") == dev_default, variable
        assert roots["prod"].variables[variable].get("default") == prod_value, variable


# --- the Terraform path -------------------------------------------------------------------------


def test_terraform_applies_the_gcp_root_with_every_substitution(build, header, roots) -> None:
    apply = step(build, "terraform-apply")
    env, text = step_env(apply), script(apply)
    assert env["ENV"] == "$_ENV" and 'cd "terraform/envs/$$ENV/gcp"' in text
    assert env["PROJECT"] == "$PROJECT_ID" and '-var="gcp_project_id=$$PROJECT"' in text

    passed = dict(re.findall(r'-var="?([a-z0-9_]+)=([^"\s]+)"?', text))
    for substitution, variable in root_variables(header).items():
        [name] = [key for key, value in env.items() if value == f"${substitution}"]
        assert re.fullmatch(rf"\$\$\{{?{name}(%s\}})?", passed.get(variable, "")), (
            f"{substitution} does not reach -var {variable}"
        )
    for env_name, module in roots.items():
        unknown = sorted(set(passed) - set(module.variables))
        assert not unknown, f"envs/{env_name}/gcp declares no {unknown}"

    # The operator's tfvars first, the substitutions after them: the substitutions win.
    assert text.index("-var-file=") < text.index("-var=")
    assert passed["gcp_configure_worker_dead_letter"] == "false"  # no gcloud in the image


def test_terraform_reads_the_tfvars_kept_beside_its_state(build) -> None:
    inputs, apply = step(build, "terraform-inputs"), step(build, "terraform-apply")
    copied = re.search(r'tfvars="gs://\$\$STATE_BUCKET/(\S+)/terraform\.tfvars"', script(inputs))
    assert copied and step_env(inputs)["STATE_BUCKET"] == "$_TF_STATE_BUCKET"
    assert 'gcloud storage cp "$$tfvars" build/gcp/terraform.tfvars' in script(inputs)
    assert "-var-file=/workspace/build/gcp/terraform.tfvars" in script(apply)
    prefix = re.search(r'-backend-config="prefix=([^"]+)"', script(apply)).group(1)
    assert prefix == copied.group(1) == "fnproxy/$$ENV/gcp"
    assert step_env(apply)["STATE_BUCKET"] == "$_TF_STATE_BUCKET"
    ids = [s["id"] for s in build["steps"]]
    assert ids.index("terraform-inputs") < ids.index("terraform-apply")


def test_terraform_adds_a_backend_only_where_none_is_declared(build) -> None:
    text = script(step(build, "terraform-apply"))
    guard, written = re.search(
        r"if ! grep -qE '(.+?)' \./\*\.tf; then\n\s*printf '(.+?)' > cloudbuild_backend\.tf", text
    ).groups()
    assert written == 'terraform {\\n  backend "gcs" {}\\n}\\n'  # partial: -backend-config fills it
    backend = re.compile(guard.replace("[[:space:]]", r"[ \t]"), re.M)  # grep: line by line
    assert backend.search('terraform {\n  backend "gcs" {}\n}')
    assert not backend.search('#   backend "gcs" {}')
    for path in GCP_ROOTS.values():
        declared = [tf.name for tf in path.glob("*.tf") if backend.search(tf.read_text())]
        assert not declared, f"{path} declares a backend in {declared}: the build would add one"
        assert 'backend "gcs" {}' in (path / "backend.tf.example").read_text()


def test_the_applied_roots_know_no_aws(build) -> None:
    """The build worker has no AWS credential: what it applies requires and calls no AWS."""
    applied = re.search(
        r'cd "(terraform/envs/)\$\$ENV(/gcp)"', script(step(build, "terraform-apply"))
    )
    for env_name in ENVS:
        path = ROOT / f"{applied.group(1)}{env_name}{applied.group(2)}"
        assert path == env_root(env_name, "gcp")
        assert "aws" not in required_providers(path), f"{path} requires the aws provider"
        sources = [call["source"] for call in load_module(path).modules.values()]
        assert sources == ["../../../modules/gcp"], f"envs/{env_name}/gcp calls {sources}"


# --- the functions' build account --------------------------------------------------------------


def granted_roles(module: Module, grant: dict[str, Any]) -> set[str]:
    """The role of a grant, or the roles of its `for_each = local.X` (role = each.value)."""
    if expression(grant["role"]) != "each.value":
        return {grant["role"]}
    source = expression(grant["for_each"]).removeprefix("local.")
    return set(re.findall(r"roles/[A-Za-z.]+", module.locals[source]))


def build_account_grants(module: Module) -> set[str]:
    return {
        role
        for kind in ("google_project_iam_member", "google_storage_bucket_iam_member")
        for grant in module.resources.get(kind, {}).values()
        if "google_service_account.build[0]" in json.dumps(grant.get("member"))
        for role in granted_roles(module, grant)
    }


def test_documented_build_roles_are_the_module_grants(header) -> None:
    module = load_module(GCP_MODULE)
    paragraph = BUILD_ROLES.search(header).group(0)
    assert set(re.findall(r"roles/[A-Za-z.]+[A-Za-z]", paragraph)) == build_account_grants(module)
    account = module.resource("google_service_account.build")
    assert account["account_id"] == "${var.name_prefix}-build"


def test_both_paths_build_as_the_build_account(build) -> None:
    module = load_module(GCP_MODULE)
    for function in module.resources["google_cloudfunctions2_function"].values():
        assert expression(function["build_config"][0]["service_account"]) == (
            "local.build_service_account"
        )
    assert "google_service_account.build[0].id" in module.locals["build_service_account"]
    deploy = script(step(build, "deploy-functions"))
    assert '--build-service-account="projects/$$PROJECT/serviceAccounts/$$(account build)"' in (
        deploy
    )
    assert deploy.count('"$${common[@]}"') == 2  # both functions take the common flags


# --- the container image (_CLOUD_RUN) -----------------------------------------------------------

IMAGE_STEPS = ("image-repository", "image", "deploy-cloud-run", "terraform-apply")
IMAGE = "$_REGION-docker.pkg.dev/$PROJECT_ID/$_NAME_PREFIX/fnproxy:$BUILD_ID"
SKIPPED_WITHOUT_CLOUD_RUN = re.compile(r'\[ "\$\$CLOUD_RUN" != true \][^\n]*exit 0; fi')


def test_the_image_is_built_pushed_and_deployed_only_with_cloud_run(build) -> None:
    for step_id in IMAGE_STEPS:
        body = step(build, step_id)
        assert step_env(body)["CLOUD_RUN"] == "$_CLOUD_RUN", step_id
    for step_id in ("image-repository", "image", "deploy-cloud-run"):
        assert SKIPPED_WITHOUT_CLOUD_RUN.search(script(step(build, step_id))), step_id
    passed = script(step(build, "terraform-apply"))
    assert '-var="gcp_cloud_run_enabled=$$CLOUD_RUN"' in passed
    assert build["substitutions"]["_CLOUD_RUN"] == "false"


def test_one_image_name_from_the_dockerfile_to_the_service(build) -> None:
    named = {step_id: step_env(step(build, step_id)).get("IMAGE") for step_id in IMAGE_STEPS}
    del named["image-repository"]
    assert set(named.values()) == {IMAGE}, named
    built = script(step(build, "image"))
    assert 'docker build --tag "$$IMAGE" .' in built and 'docker push "$$IMAGE"' in built
    assert (ROOT / "Dockerfile").is_file()
    # The repository the image goes to is the one the step before creates.
    repository = step(build, "image-repository")
    env, text = step_env(repository), script(repository)
    assert (env["REGION"], env["PREFIX"]) == ("$_REGION", "$_NAME_PREFIX")
    assert 'repositories create "$$PREFIX"' in text and "--repository-format=docker" in text
    assert '-var="gcp_cloud_run_image=$$IMAGE"' in script(step(build, "terraform-apply"))
    ids = [s["id"] for s in build["steps"]]
    assert ids.index("build") < ids.index("image-repository") < ids.index("image")
    assert ids.index("image") < min(ids.index("deploy-cloud-run"), ids.index("terraform-apply"))


def test_the_gcloud_path_rolls_the_image_onto_terraforms_service(build) -> None:
    module = load_module(GCP_MODULE)
    assert module.locals["grpc_service_name"] == "${var.name_prefix}-grpc"
    deploy = step(build, "deploy-cloud-run")
    assert step_env(deploy)["PREFIX"] == "$_NAME_PREFIX"
    text = script(deploy)
    assert '[ "$$DEPLOY_WITH" != gcloud ]' in text
    assert 'gcloud run services update "$$PREFIX-grpc"' in text and '--image="$$IMAGE"' in text
