"""The deployment files against the code (issue 7): Terraform (read with python-hcl2) and
serverless.yml (read with PyYAML) must set every setting the code reads and name the resources
they create, and the data files Terraform reads must be what the code generates now.

Settings. The names come from `core.config.Settings` itself (each field's `metadata["env"]`, as
`_setting` stores it), never from a copy. For each cloud, every name is either wired (set in the
function's environment, directly or as a `NAME_SECRET` / `NAME_SECRET_ARN` reference) or listed
below with the reason it is not. So a setting added to core/config.py fails
`test_every_setting_is_wired_or_excluded` for each cloud until it is set in the Terraform module
(and serverless.yml) or excluded here with a reason; an exclusion that names no setting any more,
or a setting that is wired after all, fails `test_exclusions_are_current`.
`test_a_new_setting_would_fail` shows that path on a made-up name.

Offline and fast: nothing is planned or applied; parsing only.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from core.config import Settings
from deploy import build, schemas
from tests.deploy import dockerfile

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
AWS_MODULE = TERRAFORM / "modules" / "aws"
GCP_MODULE = TERRAFORM / "modules" / "gcp"
ENVS = ("dev", "prod")
CLOUDS = {"aws": {"aws": "hashicorp/aws"}, "gcp": {"google": "hashicorp/google"}}
"""Each environment has one root per cloud, terraform/envs/<env>/<cloud>, with its provider."""
SERVERLESS = ROOT / "serverless.yml"

AWS_HANDLER = "handlers.aws_lambda.handler"
GCP_ENTRY_MODULE = "handlers.gcp_function"
GCP_ENTRY_POINTS = {"http", "worker"}

# --- what is not wired, and why ---------------------------------------------------------------

LOCAL_ONLY = {
    "FNPROXY_DATA_DIR": "the local data folder (SQLite file, generated key)",
    "SQLITE_PATH": "the SQLite store is local only",
    "LOCAL_FUNCTIONS_DIR": "the local provider runs this repository's functions/ folder",
    "LOCAL_WORKERS": "worker processes of the local provider",
    "LOCAL_MEMORY_MB": "memory cap of the local provider's workers",
    "ASYNC_WORKERS": "in-process workers of the local queue; in a cloud a queue feeds a function",
    "REST_HOST": "where `fnproxy serve` listens; the clouds serve the app themselves",
    "REST_PORT": "where `fnproxy serve` listens; the clouds serve the app themselves",
    "REST_MAX_HEADER_BYTES": "a limit of `fnproxy serve`; API Gateway and Google's front end "
    "cap request heads themselves",
    "REST_MAX_CONNECTIONS": "a limit of `fnproxy serve`; the clouds scale instances instead",
    "REST_HEADER_TIMEOUT_S": "a limit of `fnproxy serve`; the clouds' front ends time out",
    "REST_IDLE_TIMEOUT_S": "a limit of `fnproxy serve`; the clouds' front ends time out",
    "GRPC_PORT": "`fnproxy serve`'s gRPC port; Lambda and Cloud Functions serve no gRPC",
    "SERVE_WORKERS": "`fnproxy serve`'s server processes; the clouds scale instances instead",
    "LOCAL_FUNCTION_ENV": "the environment of the local provider's workers",
    "SHUTDOWN_GRACE_S": "how long `fnproxy serve` lets running executions finish on a stop",
    "STORE_BUSY_TIMEOUT_S": "SQLite's lock wait; DynamoDB and Firestore do not lock",
}
PLATFORM_COLUMN = {
    name: "FNPROXY_PLATFORM picks every port's backend (core.config.PLATFORM_DEFAULTS)"
    for name in (
        "STORE_BACKEND",
        "SECRETS_BACKEND",
        "EVENTS_BACKEND",
        "QUEUE_BACKEND",
        "BLOBS_BACKEND",
        "METRICS_BACKEND",
    )
}
SIGNING_KEY = "MODULE_SECRET_KEY"  # wired by reference only: asserted on its own
PREVIOUS_KEY = {
    "MODULE_SECRET_KEY_PREVIOUS": "the secret's previous version verifies (AWSPREVIOUS, or the "
    "enabled version before the newest on GCP): rotation needs no second setting",
}
EMULATORS = {
    "AWS_ENDPOINT_URL": "points the AWS clients at an emulator (moto in the tests)",
    "SECRETMANAGER_EMULATOR_HOST": "points the Secret Manager client at a test server",
}
# Tunables both deployments leave to their defaults; an operator sets them through the
# modules' extra_environment (and serverless.yml's provider.environment).
DEFAULTED = {
    "RETRY_MAX_DELAY": "default 20 s cap on one backoff",
    "MAX_REQUEST_BYTES": "default 6 MiB, Lambda's own request limit",
    "MAX_STORED_BYTES": "default 256 KiB of payload/result/logs kept in history (without blobs)",
    "HTTP_POOL_SIZE": "default 256 pooled connections",
    "SESSION_TTL_S": "default one day",
    "IDEMPOTENCY_TTL_S": "default one day",
    "STATS_BUCKET_S": "default one-hour stats buckets",
    "MAX_RESPONSE_BYTES": "default 6 MiB, Lambda's own response limit",
    "AUTH_MAX_FAILURES": "default 10 failed token requests per client id and per address",
    "AUTH_FAILURE_WINDOW_S": "default five-minute window of failed token requests",
    "HEALTH_CACHE_S": "default 5 s between backend pings of /health",
    "EXECUTION_LEASE_S": "default 30 s claim on a running execution, renewed while it runs",
    "CIRCUIT_FAILURE_THRESHOLD": "default 5 consecutive transient failures open a circuit",
    "CIRCUIT_COOLDOWN_S": "default 30 s before an open circuit lets a probe through",
    "TARGET_MAX_CONCURRENCY": "default 128 calls in flight per target",
    "OPENWHISK_API_HOST": "OpenWhisk targets are optional (extra_environment)",
    "OPENWHISK_NAMESPACE": "OpenWhisk targets are optional (extra_environment)",
    "OPENWHISK_AUTH_KEY": "OpenWhisk targets are optional: OPENWHISK_AUTH_KEY_SECRET(_ARN) "
    "in extra_environment",
    "OPENWHISK_INSECURE": "OpenWhisk targets are optional (extra_environment)",
    "LAMBDA_FUNCTION_PREFIX": "default none: /lambda routes take names as given",
    "LAMBDA_TIMEOUT": "default 300 s, the Lambda module's own",
    "API_GATEWAY_BASE_PATH": "default none: both AWS deployments serve the HTTP API's "
    "$default stage (GCP has no API Gateway)",
    "BLOBS_INLINE_BYTES": "default 64 KiB: three parts keep a record within DynamoDB's item",
    "BLOBS_READ_INLINE_BYTES": "default 1 MiB of an archived part read back inline",
    "BLOBS_URL_TTL_S": "default 5-minute signed URLs",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "default off: the deployed packages leave out the otel "
    "extra; a deployment that wants spans adds it and sets this in extra_environment",
}
AWS_SETTINGS = {
    "AWS_REGION": "AWS only",
    "FNPROXY_TABLE": "AWS only (DynamoDB)",
    "EVENTS_TOPIC_ARN": "AWS only (SNS)",
    "ASYNC_QUEUE_URL": "AWS only (SQS)",
    "ASYNC_DLQ_URL": "AWS only (SQS)",
    "FNPROXY_TRACING": "AWS only (X-Ray through powertools)",
}
GCP_SETTINGS = {
    "GCP_PROJECT_ID": "GCP only",
    "GCP_REGION": "GCP only",
    "GCP_SERVICE_ACCOUNT_KEY": "GCP only",
    "GCP_SERVICE_ACCOUNT_EMAIL": "GCP only",
    "GCP_FUNCTIONS_API_URL": "GCP only",
    "GCP_ID_TOKENS": "GCP only",
    "GCP_ID_TOKEN_AUDIENCES": "GCP only",
    "FIRESTORE_DATABASE": "GCP only (Firestore)",
    "FIRESTORE_COLLECTION_PREFIX": "GCP only (Firestore)",
    "EVENTS_TOPIC": "GCP only (Pub/Sub)",
    "ASYNC_TOPIC": "GCP only (Pub/Sub)",
    "ASYNC_DEAD_LETTER_TOPIC": "GCP only (Pub/Sub)",
}
COMMON = {
    **LOCAL_ONLY,
    **PLATFORM_COLUMN,
    **PREVIOUS_KEY,
    **EMULATORS,
    **DEFAULTED,
}

AWS_NOT_WIRED = {
    **COMMON,
    # The Lambda zip holds no Google library (deploy/build.py), so no GCP setting is of use.
    **{
        name: f"{reason}: the Lambda zip has no Google library"
        for name, reason in GCP_SETTINGS.items()
    },
    "AWS_REGION": "reserved: the Lambda runtime sets it to the function's region",
    "SECRETS_CACHE_TTL_S": "default 300 s",
}
GCP_NOT_WIRED = {
    **COMMON,
    **{
        name: f"{reason}: the GCP source has no AWS library"
        for name, reason in AWS_SETTINGS.items()
    },
    "GCP_SERVICE_ACCOUNT_KEY": "ID tokens come from the function's own service account "
    "(metadata server): no key file",
    "GCP_SERVICE_ACCOUNT_EMAIL": "no impersonation: the function's own service account",
    "GCP_FUNCTIONS_API_URL": "the real Cloud Functions API (default); set only for a test server",
    "GCP_ID_TOKENS": "on (default): off only for local emulation",
}
# The Cloud Run service (terraform/modules/gcp/cloud_run.tf) runs the container image's `fnproxy
# serve`: the functions' settings, and those of a server Cloud Run stops.
CLOUD_RUN_WIRED = {"SHUTDOWN_GRACE_S", "GRPC_PORT"}
CLOUD_RUN_NOT_WIRED = {
    **{name: reason for name, reason in GCP_NOT_WIRED.items() if name not in CLOUD_RUN_WIRED},
    "REST_HOST": "the image sets 0.0.0.0 (Dockerfile)",
    "REST_PORT": "the image's 8080; Cloud Run forwards the gRPC port only",
}
# Environment variables that are not settings of core/config.py, with their reader.
OTHER_VARIABLES = {
    "POWERTOOLS_METRICS_NAMESPACE": "handlers/aws_lambda.py (powertools' Metrics namespace)",
}

# --- reading the files ------------------------------------------------------------------------

HCL = hcl2.SerializationOptions(
    strip_string_quotes=True, with_comments=False, explicit_blocks=False
)
EXPRESSION = re.compile(r"\$\{(.*)\}", re.DOTALL)
REFERENCE = re.compile(r"\$\{([a-z0-9_]+)\.([a-z0-9_]+)\.([a-z0-9_]+)\}")


@dataclass
class Module:
    """A folder of .tf files, parsed."""

    path: Path
    text: str = ""
    resources: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    data: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)

    def resource(self, reference: str) -> dict[str, Any]:
        """The body of `type.name` (a KeyError names what is missing)."""
        kind, name = reference.split(".")
        return self.resources[kind][name]


def load_module(path: Path) -> Module:
    module = Module(path)
    files = sorted(path.glob("*.tf"))
    assert files, f"no .tf files in {path}"
    for tf in files:
        text = tf.read_text(encoding="utf-8")
        module.text += text
        parsed = hcl2.loads(text, serialization_options=HCL)
        for section, target in (("resource", module.resources), ("data", module.data)):
            for block in parsed.get(section, []):
                for kind, named in block.items():
                    target.setdefault(kind, {}).update(named)
        for block in parsed.get("locals", []):
            module.locals.update(block)
        for section, target in (
            ("variable", module.variables),
            ("output", module.outputs),
            ("module", module.modules),
        ):
            for block in parsed.get(section, []):
                target.update(block)
    return module


def expression(value: Any) -> str:
    """The HCL expression inside `${...}`, or the value as it is."""
    if isinstance(value, str):
        found = EXPRESSION.fullmatch(value.strip())
        if found:
            return found.group(1).strip()
    return value


def split_arguments(text: str) -> list[str]:
    """Top-level comma-separated parts of `text` (brackets, braces and strings respected)."""
    parts, depth, current, quoted = [], 0, [], False
    for index, char in enumerate(text):
        if char == '"' and (index == 0 or text[index - 1] != "\\"):
            quoted = not quoted
        elif not quoted and char in "([{":
            depth += 1
        elif not quoted and char in ")]}":
            depth -= 1
        elif not quoted and char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts


def resolve_map(module: Module, value: Any) -> dict[str, Any]:
    """The entries of a map-valued expression: an object, `local.X`, `merge(...)` of those
    (later arguments win); `var.*` arguments (extra_environment) contribute nothing known."""
    if isinstance(value, dict):
        return dict(value)
    text = expression(value)
    assert isinstance(text, str), f"not a map expression: {value!r}"
    if text.startswith("local."):
        return resolve_map(module, module.locals[text.removeprefix("local.")])
    if text.startswith("var."):
        return {}
    if text.startswith("merge(") and text.endswith(")"):
        merged: dict[str, Any] = {}
        for argument in split_arguments(text[len("merge(") : -1]):
            merged.update(resolve_map(module, "${" + argument + "}"))
        return merged
    if text.startswith("{"):
        return hcl2.loads(f"x = {text}", serialization_options=HCL)["x"]
    raise AssertionError(f"cannot read the map expression {value!r}")


def reference(value: Any) -> tuple[str, str, str]:
    """(type, name, attribute) of `${type.name.attribute}`."""
    found = REFERENCE.fullmatch(str(value).strip())
    assert found, f"{value!r} is not a reference to a resource attribute"
    return found.group(1), found.group(2), found.group(3)


def walk(
    node: Any, path: str = "", skip: Callable[[Any], bool] = lambda node: False
) -> Iterator[tuple[str, Any]]:
    """(path, value) of every node of a parsed document, but those `skip` takes out (and what
    is inside them)."""
    if skip(node):
        return
    yield path, node
    if isinstance(node, dict):
        for key, child in node.items():
            yield from walk(child, f"{path}.{key}", skip)
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from walk(child, f"{path}[{index}]", skip)


@pytest.fixture(scope="module")
def aws() -> Module:
    return load_module(AWS_MODULE)


@pytest.fixture(scope="module")
def gcp() -> Module:
    return load_module(GCP_MODULE)


@pytest.fixture(scope="module")
def serverless() -> dict[str, Any]:
    return yaml.safe_load(SERVERLESS.read_text(encoding="utf-8"))


def lambda_function(module: Module) -> tuple[str, dict[str, Any]]:
    functions = module.resources["aws_lambda_function"]
    assert len(functions) == 1, "the aws module has one function (API and worker)"
    return next(iter(functions.items()))


def aws_environment(module: Module) -> dict[str, Any]:
    _, function = lambda_function(module)
    return resolve_map(module, function["environment"][0]["variables"])


def gcp_functions(module: Module) -> dict[str, dict[str, Any]]:
    return module.resources["google_cloudfunctions2_function"]


def gcp_environments(module: Module) -> dict[str, dict[str, Any]]:
    return {
        name: resolve_map(module, function["service_config"][0]["environment_variables"])
        for name, function in gcp_functions(module).items()
    }


def cloud_run_service(module: Module) -> dict[str, Any]:
    [service] = module.resources["google_cloud_run_v2_service"].values()
    return service


def cloud_run_container(module: Module) -> dict[str, Any]:
    [container] = cloud_run_service(module)["template"][0]["containers"]
    return container


def cloud_run_environment(module: Module) -> dict[str, Any]:
    """The service's `dynamic "env"` entries: its for_each map."""
    [block] = cloud_run_container(module)["dynamic"]
    return resolve_map(module, block["env"]["for_each"])


def env_root(env: str, cloud: str) -> Path:
    return TERRAFORM / "envs" / env / cloud


ROOT_ZIP_DEFAULT = re.compile(r'coalesce\(var\.[a-z0-9_]+,\s*"\$\{path\.root\}/([^"]+)"\)')


def deployed_zip(env: str, cloud: str, argument: str) -> Path:
    """The file a root's module call deploys when the operator names none: the default of
    `coalesce(var.X, "${path.root}/...")`, resolved from the root's folder."""
    call = load_module(env_root(env, cloud)).modules[cloud]
    found = ROOT_ZIP_DEFAULT.fullmatch(expression(call[argument]))
    assert found, f"envs/{env}/{cloud}: {argument} is not coalesce(var, path.root/...)"
    return (env_root(env, cloud) / found.group(1)).resolve()


def provider_requirements(folder: Path) -> dict[str, dict[str, str]]:
    """name -> {source, version} of every provider the .tf files of a folder require."""
    found = {}
    for tf in sorted(folder.glob("*.tf")):
        parsed = hcl2.loads(tf.read_text(encoding="utf-8"), serialization_options=HCL)
        for block in parsed.get("terraform", []):
            for providers in block.get("required_providers", []):
                found.update(providers)
    return found


def required_providers(folder: Path) -> dict[str, str]:
    """name -> source of every provider the .tf files of a folder require."""
    return {name: body["source"] for name, body in provider_requirements(folder).items()}


def terraform_constraint(text: str) -> SpecifierSet:
    """A Terraform version constraint as PEP 440 specifiers (Terraform's ~> is PEP 440's ~=)."""
    return SpecifierSet(",".join(part.strip().replace("~>", "~=") for part in text.split(",")))


# --- settings -----------------------------------------------------------------------------------


def setting_names() -> set[str]:
    return {spec.metadata["env"] for spec in dataclasses.fields(Settings)}


def wired(names: set[str], environment: dict[str, Any]) -> set[str]:
    """The settings an environment sets, directly or by secret reference."""
    return {
        name
        for name in names
        if name in environment
        or f"{name}_SECRET" in environment
        or f"{name}_SECRET_ARN" in environment
    }


def unwired(names: set[str], environment: dict[str, Any], excluded: dict[str, str]) -> set[str]:
    return names - wired(names, environment) - set(excluded)


def environments() -> Iterator[tuple[str, dict[str, Any], dict[str, str]]]:
    """(where, environment, exclusions) of every function of every deployment."""
    aws_module, gcp_module = load_module(AWS_MODULE), load_module(GCP_MODULE)
    yield "terraform/modules/aws", aws_environment(aws_module), AWS_NOT_WIRED
    document = yaml.safe_load(SERVERLESS.read_text(encoding="utf-8"))
    yield "serverless.yml", document["provider"]["environment"], AWS_NOT_WIRED
    for name, environment in gcp_environments(gcp_module).items():
        yield f"terraform/modules/gcp ({name})", environment, GCP_NOT_WIRED
    yield (
        "terraform/modules/gcp (cloud run)",
        cloud_run_environment(gcp_module),
        CLOUD_RUN_NOT_WIRED,
    )


ENVIRONMENTS = list(environments())
ENVIRONMENT_IDS = [where for where, _, _ in ENVIRONMENTS]


@pytest.mark.parametrize(("where", "environment", "excluded"), ENVIRONMENTS, ids=ENVIRONMENT_IDS)
def test_every_setting_is_wired_or_excluded(
    where: str, environment: dict[str, Any], excluded: dict[str, str]
) -> None:
    missing = unwired(setting_names(), environment, excluded)
    assert not missing, (
        f"{where} does not set {sorted(missing)}: wire them (the function's environment) or "
        "add them to the exclusion list of tests/deploy/test_wiring.py with the reason"
    )


@pytest.mark.parametrize(("where", "environment", "excluded"), ENVIRONMENTS, ids=ENVIRONMENT_IDS)
def test_exclusions_are_current(
    where: str, environment: dict[str, Any], excluded: dict[str, str]
) -> None:
    names = setting_names()
    assert set(excluded) <= names, f"excluded but no setting: {sorted(set(excluded) - names)}"
    both = set(excluded) & wired(names, environment)
    assert not both, f"{where} sets {sorted(both)}, which the exclusion list says it does not"


@pytest.mark.parametrize(("where", "environment", "excluded"), ENVIRONMENTS, ids=ENVIRONMENT_IDS)
def test_every_variable_is_a_setting(
    where: str, environment: dict[str, Any], excluded: dict[str, str]
) -> None:
    """A typo in a variable name would leave the setting at its default, silently."""
    names = setting_names()
    known = names | {f"{n}_SECRET" for n in names} | {f"{n}_SECRET_ARN" for n in names}
    unknown = set(environment) - known - set(OTHER_VARIABLES)
    assert not unknown, f"{where} sets variables no code reads: {sorted(unknown)}"


@pytest.mark.parametrize(("where", "environment", "excluded"), ENVIRONMENTS, ids=ENVIRONMENT_IDS)
def test_the_signing_key_comes_from_the_secret_only(
    where: str, environment: dict[str, Any], excluded: dict[str, str]
) -> None:
    assert SIGNING_KEY not in environment, f"{where} puts the signing key itself in the environment"
    references = {f"{SIGNING_KEY}_SECRET", f"{SIGNING_KEY}_SECRET_ARN"} & set(environment)
    assert len(references) == 1, f"{where} must point {SIGNING_KEY} at its secret, once"


def test_a_new_setting_would_fail() -> None:
    """The check above on a made-up setting: not wired, not excluded, so reported."""
    _, environment, excluded = ENVIRONMENTS[0]
    assert unwired(setting_names() | {"FNPROXY_SOMETHING_NEW"}, environment, excluded) == {
        "FNPROXY_SOMETHING_NEW"
    }


def test_the_aws_deployments_set_the_same_variables(aws: Module, serverless: dict) -> None:
    assert set(serverless["provider"]["environment"]) == set(aws_environment(aws))


def test_both_gcp_functions_get_the_same_settings(gcp: Module) -> None:
    environments = list(gcp_environments(gcp).values())
    assert len(environments) == 2
    assert environments[0] == environments[1]


# --- AWS (Terraform) ----------------------------------------------------------------------------


def defines(module_name: str, name: str) -> bool:
    """Whether the module's source defines the function `name` at top level. Read, not
    imported: the entry modules set up logging when imported (the build imports them, in a
    fresh interpreter, from the artifacts themselves)."""
    source = ROOT / (module_name.replace(".", "/") + ".py")
    tree = ast.parse(source.read_text(encoding="utf-8"))
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name
        for node in tree.body
    )


def test_aws_handler_and_runtime(aws: Module) -> None:
    _, function = lambda_function(aws)
    assert function["handler"] == AWS_HANDLER
    assert function["runtime"] == f"python{build.LAMBDA.python_version}"
    module_name, _, attribute = AWS_HANDLER.rpartition(".")
    assert defines(module_name, attribute), f"{module_name} defines no {attribute}"
    assert module_name in build.AWS_MODULES


def test_aws_settings_name_the_resources_created(aws: Module) -> None:
    env = aws_environment(aws)
    assert env["FNPROXY_PLATFORM"] == "aws"

    table = reference(env["FNPROXY_TABLE"])
    assert table[0] == "aws_dynamodb_table" and table[2] == "name"
    topic = reference(env["EVENTS_TOPIC_ARN"])
    assert topic[0] == "aws_sns_topic" and topic[2] == "arn"
    queue = reference(env["ASYNC_QUEUE_URL"])
    dlq = reference(env["ASYNC_DLQ_URL"])
    assert queue[0] == dlq[0] == "aws_sqs_queue" and queue[2] == dlq[2] == "url"
    assert queue[1] != dlq[1]
    secret = reference(env[f"{SIGNING_KEY}_SECRET_ARN"])
    assert secret[0] == "aws_secretsmanager_secret" and secret[2] == "arn"
    for kind, name, _ in (table, topic, queue, dlq, secret):
        assert name in aws.resources[kind], f"{kind}.{name} is not created by the aws module"

    # The queue dead-letters to ASYNC_DLQ_URL's queue after ASYNC_MAX_RECEIVE_COUNT deliveries,
    # both from one variable.
    redrive = expression(aws.resource(f"aws_sqs_queue.{queue[1]}")["redrive_policy"])
    assert f"aws_sqs_queue.{dlq[1]}.arn" in redrive
    count = re.search(r"maxReceiveCount\s*=\s*(var\.[a-z0-9_]+)", redrive)
    assert count, f"maxReceiveCount is not a variable: {redrive}"
    assert expression(env["ASYNC_MAX_RECEIVE_COUNT"]) in (
        count.group(1),
        f"tostring({count.group(1)})",
    )

    # The worker reads that queue with partial batch responses.
    mappings = [
        m
        for m in aws.resources["aws_lambda_event_source_mapping"].values()
        if expression(m["event_source_arn"]) == f"aws_sqs_queue.{queue[1]}.arn"
    ]
    assert len(mappings) == 1
    assert mappings[0]["function_response_types"] == ["ReportBatchItemFailures"]
    function_name, _ = lambda_function(aws)
    assert f"aws_lambda_function.{function_name}." in mappings[0]["function_name"]


def test_aws_table_is_built_from_the_generated_file(aws: Module) -> None:
    """The table's keys, GSIs and TTL come from dynamodb_table.json (not a copy in HCL)."""
    readers = [
        name
        for name, value in aws.locals.items()
        if isinstance(value, str) and f'"${{path.module}}/{schemas.DYNAMODB_FILE.name}"' in value
    ]
    assert len(readers) == 1, f"no local reads {schemas.DYNAMODB_FILE.name} with jsondecode(file())"
    table_name = reference(aws_environment(aws)["FNPROXY_TABLE"])[1]
    table = aws.resource(f"aws_dynamodb_table.{table_name}")
    # The table's own expressions, and the locals they use (e.g. the hash key picked out of it).
    texts = [value for _, value in walk(table) if isinstance(value, str)]
    used_locals = {name for text in texts for name in re.findall(r"local\.([a-z0-9_]+)", text)}
    texts += [str(aws.locals[name]) for name in used_locals if name in aws.locals]
    for key in schemas.dynamodb_table():
        read = re.compile(rf'local\.{readers[0]}(\.{key}\b|\s*,\s*"{key}")')
        assert any(read.search(text) for text in texts), (
            f"the table does not use {key} of {schemas.DYNAMODB_FILE.name}"
        )


def test_aws_envs_deploy_the_built_zip() -> None:
    for env in ENVS:
        assert deployed_zip(env, "aws", "lambda_zip_path") == ROOT / "build" / build.AWS_ZIP, env


def kms_key_statements(module: Module) -> list[dict[str, Any]]:
    """The statements of the module key's policy (the object inside jsonencode(...))."""
    policy = expression(module.resource("aws_kms_key.this")["policy"])
    assert policy.startswith("jsonencode(") and policy.endswith(")"), policy[:40]
    document = hcl2.loads(f"x = {policy[len('jsonencode(') : -1]}", serialization_options=HCL)
    return document["x"]["Statement"]


CLOUDWATCH = "cloudwatch.amazonaws.com"


def cloudwatch_alarm_statement(statements: list[dict[str, Any]]) -> dict[str, Any]:
    """The one key-policy statement of CloudWatch (alarms publishing to an encrypted topic),
    checked to allow exactly what publishing needs, in this account."""
    [statement] = [s for s in statements if s["Principal"] == {"Service": CLOUDWATCH}]
    assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert set(statement["Condition"]) == {"StringEquals", "ArnLike"}
    assert list(statement["Condition"]["StringEquals"]) == ["aws:SourceAccount"]
    return statement


def test_aws_alarms_notify_a_topic_cloudwatch_may_encrypt_for(aws: Module) -> None:
    """Without alarm_topic_arn the module makes its own topic, encrypted with its key, and every
    alarm notifies it; the key lets CloudWatch use it for this module's alarms only (issue 17).
    How the alarms pick the topic is evaluated by Terraform in aws_root.tftest.hcl."""
    topic = aws.resource("aws_sns_topic.alarms")
    assert expression(topic["count"]) == "var.alarm_topic_arn == null ? 1 : 0"
    assert expression(topic["kms_master_key_id"]) == "local.kms_key_arn"
    assert "aws_sns_topic.alarms[0].arn" in aws.locals["alarm_actions"][0]
    [alarm] = aws.resources["aws_cloudwatch_metric_alarm"].values()
    assert expression(alarm["alarm_actions"]) == expression(alarm["ok_actions"])
    assert expression(alarm["alarm_actions"]) == "local.alarm_actions"
    assert expression(aws.outputs["alarm_topic_arn"]["value"]) == "local.alarm_actions[0]"
    for env in ENVS:
        output = load_module(env_root(env, "aws")).outputs["aws_alarm_topic_arn"]
        assert expression(output["value"]) == "module.aws.alarm_topic_arn", env

    conditions = cloudwatch_alarm_statement(kms_key_statements(aws))["Condition"]
    assert conditions["StringEquals"] == {"aws:SourceAccount": "${local.account_id}"}
    prefix = alarm["alarm_name"].split("${each.key}")[0]
    assert conditions["ArnLike"]["aws:SourceArn"].endswith(f":alarm:{prefix}*"), prefix


# Teardown settings of the module: root variable aws_<name>, default per environment (prod
# protects the data, dev is easy to tear down).
TEARDOWN_DEFAULTS = {
    "table_deletion_protection": {"dev": False, "prod": True},
    "secret_recovery_window_days": {"dev": 0, "prod": 30},
    "kms_deletion_window_days": {"dev": 7, "prod": 30},
}


@pytest.mark.parametrize("env", ENVS)
def test_aws_teardown_settings_are_root_variables(env: str) -> None:
    root = load_module(env_root(env, "aws"))
    for argument, defaults in TEARDOWN_DEFAULTS.items():
        assert expression(root.modules["aws"][argument]) == f"var.aws_{argument}"
        assert root.variables[f"aws_{argument}"]["default"] == defaults[env], argument


# --- GCP (Terraform) ----------------------------------------------------------------------------


def test_gcp_entry_points_exist(gcp: Module) -> None:
    entries = {
        function["build_config"][0]["entry_point"] for function in gcp_functions(gcp).values()
    }
    assert entries == GCP_ENTRY_POINTS
    for entry in entries:
        assert defines(GCP_ENTRY_MODULE, entry), f"{GCP_ENTRY_MODULE} defines no {entry}"
    assert f"from {GCP_ENTRY_MODULE} import http, worker" in build.MAIN_PY
    for function in gcp_functions(gcp).values():
        assert function["build_config"][0]["runtime"] in (
            f"python{build.CLOUD_FUNCTIONS.python_version.replace('.', '')}",
            "${var.runtime}",
        )


def test_gcp_settings_name_the_resources_created(gcp: Module) -> None:
    env = next(iter(gcp_environments(gcp).values()))
    assert env["FNPROXY_PLATFORM"] == "gcp"
    topics = {}
    for variable in ("EVENTS_TOPIC", "ASYNC_TOPIC", "ASYNC_DEAD_LETTER_TOPIC"):
        kind, name, attribute = reference(env[variable])
        assert kind == "google_pubsub_topic" and attribute in ("id", "name")
        assert name in gcp.resources["google_pubsub_topic"], f"{variable}: no topic {name}"
        topics[variable] = name
    assert len(set(topics.values())) == 3

    secret = reference(env[f"{SIGNING_KEY}_SECRET"])
    assert secret[0] == "google_secret_manager_secret" and secret[1] in gcp.resources[secret[0]]

    # The worker is triggered by ASYNC_TOPIC's topic, with retries.
    triggers = [
        function["event_trigger"][0]
        for function in gcp_functions(gcp).values()
        if function["build_config"][0]["entry_point"] == "worker"
    ]
    assert len(triggers) == 1
    trigger = triggers[0]
    assert reference(trigger["pubsub_topic"])[1] == topics["ASYNC_TOPIC"]
    assert trigger["retry_policy"] == "RETRY_POLICY_RETRY"
    assert trigger["event_type"] == "google.cloud.pubsub.topic.v1.messagePublished"

    # Dead-lettering: the topic is ASYNC_DEAD_LETTER_TOPIC's and the maximum delivery attempts
    # come from the variable ASYNC_MAX_RECEIVE_COUNT is set from.
    count = re.fullmatch(
        r"tostring\((var\.[a-z0-9_]+)\)|(var\.[a-z0-9_]+)",
        expression(env["ASYNC_MAX_RECEIVE_COUNT"]),
    )
    assert count, "ASYNC_MAX_RECEIVE_COUNT is not set from a variable"
    variable = count.group(1) or count.group(2)
    dead_letter_settings = [
        json.dumps(body)
        for kind in ("terraform_data", "google_pubsub_subscription")
        for body in gcp.resources.get(kind, {}).values()
        if f"google_pubsub_topic.{topics['ASYNC_DEAD_LETTER_TOPIC']}.id" in json.dumps(body)
        and variable in json.dumps(body)
    ]
    assert dead_letter_settings, (
        f"no dead-letter policy sends to ASYNC_DEAD_LETTER_TOPIC after {variable} attempts"
    )


def test_gcp_firestore_is_built_from_the_generated_file(gcp: Module) -> None:
    env = next(iter(gcp_environments(gcp).values()))
    prefix_variable = expression(env["FIRESTORE_COLLECTION_PREFIX"])
    assert prefix_variable.startswith("var.")
    readers = [
        name
        for name, value in gcp.locals.items()
        if isinstance(value, str) and f'"${{path.module}}/{schemas.FIRESTORE_FILE.name}"' in value
    ]
    assert len(readers) == 1, f"no local reads {schemas.FIRESTORE_FILE.name}"
    placeholders = [n for n, v in gcp.locals.items() if v == schemas.PREFIX_PLACEHOLDER]
    assert placeholders, f"nothing replaces the placeholder {schemas.PREFIX_PLACEHOLDER}"
    replacing = [
        value
        for value in gcp.locals.values()
        if isinstance(value, str)
        and f"local.{placeholders[0]}" in value
        and prefix_variable in value
        and "replace(" in value
    ]
    assert replacing, f"the collection names are not prefixed with {prefix_variable}"
    used = json.dumps(gcp.resources.get("google_firestore_index", {})) + json.dumps(
        gcp.resources.get("google_firestore_field", {})
    )
    assert "google_firestore_index" in gcp.resources and "google_firestore_field" in gcp.resources
    assert "for_each" in used


def test_gcp_envs_deploy_the_built_zip() -> None:
    for env in ENVS:
        assert deployed_zip(env, "gcp", "source_zip_path") == ROOT / "build" / build.GCP_ZIP, env


# --- GCP: the container on Cloud Run (issue 14) ------------------------------------------------

SERVICE = "google_cloud_run_v2_service"


def test_cloud_run_is_an_option_off_by_default(gcp: Module) -> None:
    [(name, service)] = gcp.resources[SERVICE].items()
    assert expression(service["count"]) == "var.cloud_run_enabled ? 1 : 0"
    assert gcp.variables["cloud_run_enabled"]["default"] is False
    assert gcp.variables["cloud_run_image"]["default"] is None
    assert expression(cloud_run_container(gcp)["image"]) == "var.cloud_run_image"
    assert "var.cloud_run_image != null" in json.dumps(service["lifecycle"])
    assert expression(service["deletion_protection"]) == "var.deletion_protection"
    assert f"{SERVICE}.{name}[*].uri" in gcp.outputs["grpc_url"]["value"]
    for env in ENVS:
        root = load_module(env_root(env, "gcp"))
        assert root.variables["gcp_cloud_run_enabled"]["default"] is False, env
        call = root.modules["gcp"]
        assert expression(call["cloud_run_enabled"]) == "var.gcp_cloud_run_enabled"
        assert expression(call["cloud_run_image"]) == "var.gcp_cloud_run_image"
        assert "module.gcp.grpc_url" in root.outputs["gcp_grpc_url"]["value"]


def test_cloud_run_speaks_http2_end_to_end_to_the_grpc_port(gcp: Module) -> None:
    container = cloud_run_container(gcp)
    [port] = container["ports"]
    assert port["name"] == "h2c", "Cloud Run forwards HTTP/2 cleartext: gRPC needs it"
    grpc_port = gcp.locals[expression(port["container_port"]).removeprefix("local.")]
    assert expression(cloud_run_environment(gcp)["GRPC_PORT"]) == "tostring(local.grpc_port)"
    assert str(grpc_port) == dockerfile.GRPC_PORT, "the port the image exposes"
    [probe] = container["startup_probe"]
    assert expression(probe["grpc"][0]["port"]) == "local.grpc_port"


def test_cloud_run_has_the_api_functions_account_settings_and_access(gcp: Module) -> None:
    service = cloud_run_service(gcp)
    [api] = [
        f for f in gcp_functions(gcp).values() if f["build_config"][0]["entry_point"] == "http"
    ]
    config = api["service_config"][0]
    template = service["template"][0]
    assert template["service_account"] == config["service_account_email"]
    functions = resolve_map(gcp, config["environment_variables"])
    own = {
        name: value for name, value in cloud_run_environment(gcp).items() if name not in functions
    }
    assert set(own) == CLOUD_RUN_WIRED
    assert {name: cloud_run_environment(gcp)[name] for name in functions} == functions
    # Its SHUTDOWN_GRACE_S ends before Cloud Run's 10 s between SIGTERM and SIGKILL.
    assert float(own["SHUTDOWN_GRACE_S"]) < 10
    # Sizing and access follow the API function's variables.
    assert template["timeout"] == "${var.api_timeout_seconds}s"
    assert template["scaling"][0]["max_instance_count"] == config["max_instance_count"]
    assert (
        template["max_instance_request_concurrency"] == config["max_instance_request_concurrency"]
    )
    assert service["ingress"] == "${local.cloud_run_ingress[var.api_ingress]}"
    assert set(gcp.locals["cloud_run_ingress"]) == set(
        gcp.variables["api_ingress"]["validation"][0]["condition"].split('"')[1::2]
    )
    [public] = [
        body
        for body in gcp.resources["google_cloud_run_v2_service_iam_member"].values()
        if SERVICE in str(body["name"])
    ]
    assert public["member"] == "allUsers"
    assert expression(public["count"]) == "var.cloud_run_enabled && var.public_api ? 1 : 0"


# --- serverless.yml -----------------------------------------------------------------------------


def cf_resources(document: dict) -> dict[str, dict]:
    return document["resources"]["Resources"]


def ref(value: Any, document: dict, kind: str) -> str:
    """The logical id `{"Ref": id}` names, checked to be a resource of `kind`."""
    assert isinstance(value, dict) and set(value) == {"Ref"}, f"{value!r} is not a Ref"
    logical_id = value["Ref"]
    assert cf_resources(document)[logical_id]["Type"] == kind, f"{logical_id} is not a {kind}"
    return logical_id


def test_serverless_functions_and_package(serverless: dict) -> None:
    assert str(serverless["frameworkVersion"]) == "3"
    provider = serverless["provider"]
    assert provider["name"] == "aws"
    assert serverless["package"]["artifact"] == f"build/{build.AWS_ZIP.as_posix()}"
    assert serverless["package"].get("individually") is False
    functions = serverless["functions"]
    assert set(functions) == {"api", "worker"}
    assert {f["handler"] for f in functions.values()} == {AWS_HANDLER}
    assert functions["api"]["events"] == [{"httpApi": "*"}]


def test_serverless_functions_run_the_builds_python(serverless: dict) -> None:
    """The framework (v3) refuses python3.12 as provider.runtime, so each function's generated
    resource gets it through resources.extensions; that runtime must be the build's."""
    extensions = serverless["resources"]["extensions"]
    for name in serverless["functions"]:
        logical_id = f"{name.capitalize()}LambdaFunction"
        runtime = extensions[logical_id]["Properties"]["Runtime"]
        assert runtime == f"python{build.LAMBDA.python_version}", logical_id


def test_concurrency_is_unreserved_by_default(aws: Module, serverless: dict) -> None:
    """A new account's concurrency quota (10) must all stay unreserved (issue 17): nothing is
    reserved unless an operator asks, after a Service Quotas increase."""
    _, function = lambda_function(aws)
    wanted = expression(function["reserved_concurrent_executions"])
    assert wanted == "var.lambda_reserved_concurrency"
    assert aws.variables["lambda_reserved_concurrency"]["default"] == -1
    for env in ENVS:
        root = load_module(env_root(env, "aws"))
        assert root.variables["aws_lambda_reserved_concurrency"]["default"] == -1, env
        call = expression(root.modules["aws"]["lambda_reserved_concurrency"])
        assert call == "var.aws_lambda_reserved_concurrency", env
    for name, function in serverless["functions"].items():
        param = f"{name}ReservedConcurrency"
        assert function["reservedConcurrency"] == f"${{param:{param}, null}}", name
        assert not any(param in values for values in serverless["params"].values()), param


def test_serverless_settings_name_the_resources_created(serverless: dict) -> None:
    env = serverless["provider"]["environment"]
    assert env["FNPROXY_PLATFORM"] == "aws"
    ref(env["FNPROXY_TABLE"], serverless, "AWS::DynamoDB::Table")
    ref(env["EVENTS_TOPIC_ARN"], serverless, "AWS::SNS::Topic")
    ref(env[f"{SIGNING_KEY}_SECRET_ARN"], serverless, "AWS::SecretsManager::Secret")
    queue = ref(env["ASYNC_QUEUE_URL"], serverless, "AWS::SQS::Queue")
    dlq = ref(env["ASYNC_DLQ_URL"], serverless, "AWS::SQS::Queue")
    assert queue != dlq

    redrive = cf_resources(serverless)[queue]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": [dlq, "Arn"]}
    # One parameter for both (PyYAML keeps the serverless variable as text).
    assert str(redrive["maxReceiveCount"]).startswith("${param:")
    assert str(env["ASYNC_MAX_RECEIVE_COUNT"]) == str(redrive["maxReceiveCount"])

    events = serverless["functions"]["worker"]["events"]
    assert len(events) == 1 and set(events[0]) == {"sqs"}
    sqs = events[0]["sqs"]
    assert sqs["arn"] == {"Fn::GetAtt": [queue, "Arn"]}
    assert sqs["functionResponseType"] == "ReportBatchItemFailures"


def test_serverless_alarms_notify_a_topic_cloudwatch_may_encrypt_for(serverless: dict) -> None:
    resources = cf_resources(serverless)
    alarms = {k: v for k, v in resources.items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    assert alarms
    for name, alarm in alarms.items():
        properties = alarm["Properties"]
        assert properties["AlarmActions"] == properties["OKActions"] == [{"Ref": "AlarmsTopic"}]
        assert properties["AlarmName"].startswith("${self:service}-${sls:stage}-"), name
    assert resources["AlarmsTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "FnproxyKey"}
    statements = resources["FnproxyKey"]["Properties"]["KeyPolicy"]["Statement"]
    conditions = cloudwatch_alarm_statement(statements)["Condition"]
    assert conditions["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    source = conditions["ArnLike"]["aws:SourceArn"]["Fn::Sub"]
    assert source.endswith(":alarm:${self:service}-${sls:stage}-*")


def test_serverless_table_is_built_from_the_generated_file(serverless: dict) -> None:
    env = serverless["provider"]["environment"]
    table = cf_resources(serverless)[env["FNPROXY_TABLE"]["Ref"]]["Properties"]
    table_file = serverless["custom"]["tableFile"]
    assert (ROOT / table_file).resolve() == (ROOT / schemas.DYNAMODB_FILE).resolve()
    for key in schemas.dynamodb_table():
        assert table.get(key) == f"${{file(${{self:custom.tableFile}}):{key}}}", (
            f"serverless.yml's table does not take {key} from {schemas.DYNAMODB_FILE}"
        )


SERVERLESS_VARIABLE = re.compile(r"\$\{(param|self|file|opt|sls|env):?([^}]*)\}")


def test_serverless_variables_resolve(serverless: dict) -> None:
    """Every `${param:X}` has a value for every stage, every `${self:a.b}` exists, every
    `${file(...)}` names a file (the serverless syntax survives PyYAML as text)."""
    params = serverless["params"]
    stages = set(params) - {"default"}
    assert stages >= set(ENVS)
    seen = set()
    for path, value in walk(serverless):
        if not isinstance(value, str):
            continue
        for source, address in SERVERLESS_VARIABLE.findall(value):
            seen.add(source)
            if source == "param":
                name, *fallback = address.split(",")
                name = name.strip()
                for stage in stages if not fallback else ():  # a fallback needs no value
                    assert name in params.get(stage, {}) or name in params["default"], (
                        f"{path}: ${{param:{name}}} has no value for stage {stage}"
                    )
            elif source == "self":
                node: Any = serverless
                for part in address.split(","):
                    for key in part.strip().split("."):
                        assert isinstance(node, dict) and key in node, (
                            f"{path}: ${{self:{address}}}"
                        )
                        node = node[key]
                    break
    for match in re.finditer(r"\$\{file\(([^)]+)\)", SERVERLESS.read_text(encoding="utf-8")):
        target = match.group(1)
        if "${self:custom.tableFile}" == target:
            target = serverless["custom"]["tableFile"]
        assert (ROOT / target).is_file(), f"${{file({match.group(1)})}}: no such file"
    assert {"param", "self", "sls"} <= seen


# --- the generated files ------------------------------------------------------------------------


def test_generated_files_are_current() -> None:
    """A schema change in core/store must be regenerated: `python -m deploy.schemas`."""
    for relative, text in schemas.render().items():
        current = (ROOT / relative).read_text(encoding="utf-8")
        assert current == text, f"{relative} is not current: run python -m deploy.schemas"


def test_generated_files_hold_the_stores_definitions() -> None:
    from core.store import dynamodb_schema, firestore_schema

    table = json.loads((ROOT / schemas.DYNAMODB_FILE).read_text(encoding="utf-8"))
    for key, value in dynamodb_schema.TABLE_DEFINITION.items():
        assert table[key] == value
    assert table["TimeToLiveSpecification"]["AttributeName"] == dynamodb_schema.TTL_ATTRIBUTE
    data = json.loads((ROOT / schemas.FIRESTORE_FILE).read_text(encoding="utf-8"))
    assert data == firestore_schema.terraform_data(schemas.PREFIX_PLACEHOLDER)


# --- IAM ----------------------------------------------------------------------------------------

WILDCARD_ACTION = re.compile(r'"([a-z0-9-]+:[A-Za-z0-9]*\*[A-Za-z0-9*]*|\*)"')
ACTION_KEYS = {"actions", "not_actions", "Action", "NotAction"}


def terraform_files() -> list[Path]:
    return sorted(TERRAFORM.rglob("*.tf"))


def denies(node: Any) -> bool:
    """Whether `node` is a policy statement that denies: its wildcard refuses more, not grants."""
    return isinstance(node, dict) and str(node.get("effect", node.get("Effect"))) == "Deny"


def grants(node: Any) -> Iterator[tuple[str, Any]]:
    """`walk`, leaving out Deny statements (a bucket policy refusing every action without TLS)."""
    return walk(node, skip=denies)


def test_no_terraform_iam_action_is_a_wildcard() -> None:
    for tf in terraform_files():
        text = tf.read_text(encoding="utf-8")
        parsed = hcl2.loads(text, serialization_options=HCL)
        for path, value in grants(parsed):
            key = path.rsplit(".", 1)[-1]
            if key in ACTION_KEYS:
                actions = value if isinstance(value, list) else [value]
                bad = [a for a in actions if isinstance(a, str) and "*" in a]
                assert not bad, f"{tf.relative_to(ROOT)} {path}: wildcard action {bad}"
        # Actions inside jsonencode(...) policies: `Action = [...]` / `Action = "..."`.
        for block in re.finditer(r"\b(?:Not)?Action\s*=\s*(\[[^\]]*\]|\"[^\"]*\")", text):
            found = WILDCARD_ACTION.findall(block.group(1))
            assert not found, f"{tf.relative_to(ROOT)}: wildcard action {found}"


def test_no_gcp_role_is_primitive_or_a_wildcard() -> None:
    text = "".join(tf.read_text(encoding="utf-8") for tf in sorted(GCP_MODULE.rglob("*.tf")))
    roles = re.findall(r'role\s*=\s*"([^"]+)"', text)
    assert roles
    for role in roles:
        assert "*" not in role and role not in ("roles/owner", "roles/editor", "roles/viewer")


def test_gcp_invoker_roles_only_on_the_configured_functions(gcp: Module) -> None:
    invoker_roles = {"roles/run.invoker", "roles/cloudfunctions.invoker"}
    own = {f"google_cloudfunctions2_function.{name}.name" for name in gcp_functions(gcp)}
    own |= {f"google_cloud_run_v2_service.{name}[0].name" for name in gcp.resources[SERVICE]}
    for kind, named in gcp.resources.items():
        for name, body in named.items():
            if body.get("role") not in invoker_roles:
                continue
            assert not kind.startswith("google_project_iam"), (
                f"{kind}.{name}: an invoker role on the whole project"
            )
            target = expression(body.get("name") or body.get("cloud_function") or "")
            for_each = expression(body.get("for_each", ""))
            if target in own:
                continue
            # Otherwise: one grant per configured function (var.invocable_functions).
            assert target.startswith("each.value."), f"{kind}.{name}: invoker on {target}"
            source = for_each.removeprefix("local.")
            assert "var.invocable_functions" in json.dumps(gcp.locals) and source in gcp.locals, (
                f"{kind}.{name}: invoker grants not from var.invocable_functions"
            )


def policy_statements(module: Module) -> list[tuple[dict[str, Any], str | None]]:
    """(statement, the for_each of its dynamic block or None) of every aws_iam_policy_document."""
    statements = []
    for document in module.data["aws_iam_policy_document"].values():
        statements += [(s, None) for s in document.get("statement", [])]
        for dynamic in document.get("dynamic", []):
            block = dynamic["statement"]
            statements += [(s, block["for_each"]) for s in block["content"]]
    return statements


def test_aws_invoke_only_on_the_configured_functions(aws: Module) -> None:
    statements = policy_statements(aws)
    invoking = [(s, f) for s, f in statements if "lambda:InvokeFunction" in s.get("actions", [])]
    assert len(invoking) == 1
    statement, for_each = invoking[0]
    scope = json.dumps(statement.get("resources")) + str(for_each)
    assert '"*"' not in json.dumps(statement.get("resources"))
    assert "invocable_function_arns" in scope
    local = re.search(r"local\.([a-z0-9_]+)", scope)
    if local:
        assert "var.invocable_function_arns" in json.dumps(aws.locals[local.group(1)])


def test_serverless_iam(serverless: dict) -> None:
    statements = serverless["provider"]["iam"]["role"]["statements"]
    for path, value in grants(serverless):
        if path.rsplit(".", 1)[-1] in ("Action", "NotAction"):
            actions = value if isinstance(value, list) else [value]
            bad = [a for a in actions if "*" in str(a)]
            assert not bad, f"serverless.yml {path}: wildcard action {bad}"
    invoking = [s for s in statements if "lambda:InvokeFunction" in s["Action"]]
    assert len(invoking) == 1
    assert invoking[0]["Resource"] == "${self:custom.invocableFunctionArns}"
    assert serverless["custom"]["invocableFunctionArns"] == "${param:invocableFunctionArns}"
    for stage_params in serverless["params"].values():
        for arn in stage_params.get("invocableFunctionArns", []):
            assert "*" not in str(arn).replace("-*", ""), f"invocable function {arn} is too wide"


def test_function_listing_is_opt_in(aws: Module, serverless: dict) -> None:
    """lambda:ListFunctions shows every function of the account and region: granted only when
    asked for (issue 17), in the module, each AWS root and serverless.yml."""
    [(statement, for_each)] = [
        (s, f) for s, f in policy_statements(aws) if "lambda:ListFunctions" in s["actions"]
    ]
    assert statement["actions"] == ["lambda:ListFunctions"]
    assert expression(for_each) == "var.allow_function_listing ? [1] : []"
    assert aws.variables["allow_function_listing"]["default"] is False
    for env in ENVS:
        root = load_module(env_root(env, "aws"))
        assert root.variables["aws_allow_function_listing"]["default"] is False, env
        call = root.modules["aws"]
        assert expression(call["allow_function_listing"]) == "var.aws_allow_function_listing"

    role_actions = json.dumps(serverless["provider"]["iam"]["role"]["statements"])
    assert "lambda:ListFunctions" not in role_actions
    listing = cf_resources(serverless)["FunctionListingPolicy"]
    assert listing["Properties"]["Roles"] == [{"Ref": "IamRoleLambdaExecution"}]
    condition = serverless["resources"]["Conditions"][listing["Condition"]]
    assert condition == {"Fn::Equals": [{"Ref": "AllowFunctionListing"}, "true"]}
    parameter = serverless["resources"]["Parameters"]["AllowFunctionListing"]
    assert parameter["Default"] == "${param:allowFunctionListing}"
    assert all(
        params.get("allowFunctionListing", "false") == "false"
        for params in serverless["params"].values()
    )


# boto3 operations that need a grant of their own -> the IAM action.
GRANTED_FOR = {
    "batch_write_item": "dynamodb:BatchWriteItem",
    "change_message_visibility": "sqs:ChangeMessageVisibility",
}


@pytest.mark.parametrize(("operation", "action"), GRANTED_FOR.items())
def test_these_actions_are_granted_when_the_code_calls_them(operation: str, action: str) -> None:
    """No grant without a call (issue 17 removed unused ones), no call without a grant."""
    code = "".join(f.read_text(encoding="utf-8") for f in sorted((ROOT / "core").rglob("*.py")))
    called = f'"{operation}"' in code or f".{operation}(" in code
    module = "".join(tf.read_text(encoding="utf-8") for tf in sorted(AWS_MODULE.glob("*.tf")))
    assert (f'"{action}"' in module) == called, f"terraform/modules/aws and {operation}"
    assert (action in SERVERLESS.read_text(encoding="utf-8")) == called, "serverless.yml"


# --- long sync calls: the function URL (issue 12) ----------------------------------------------

API_GATEWAY_TIMEOUT_MS = 30000
"""What an HTTP API integration waits at most: longer calls need the function URL."""


def longest_fnproxy_deadline_s() -> float:
    """The longest deadline fnproxy gives a sync call by default (the /lambda routes' LAMBDA_TIMEOUT
    is above FUNCTION_TIMEOUT): the function's own timeout must exceed it."""
    defaults = Settings()
    return max(defaults.lambda_timeout, defaults.function_timeout)


def test_aws_function_url_serves_long_sync_calls(aws: Module) -> None:
    function_name, _ = lambda_function(aws)
    [url] = aws.resources["aws_lambda_function_url"].values()
    assert f"aws_lambda_function.{function_name}." in url["function_name"]
    assert url["authorization_type"] == "NONE"  # fnproxy checks its own JWTs
    assert "cors" not in url
    assert expression(url["count"]) == "var.function_url_enabled ? 1 : 0"
    assert aws.variables["function_url_enabled"]["default"] is True
    assert "aws_lambda_function_url.this[*].function_url" in aws.outputs["function_url"]["value"]
    # Since October 2025 a public URL needs lambda:InvokeFunction too, through a URL only.
    [invoke] = [
        body
        for body in aws.resources["aws_lambda_permission"].values()
        if body.get("invoked_via_function_url") is True
    ]
    assert invoke["action"] == "lambda:InvokeFunction" and invoke["principal"] == "*"
    assert expression(invoke["count"]) == expression(url["count"])

    # API Gateway keeps its limit; the function's own timeout lets the URL's calls run longer
    # than fnproxy's longest default deadline, in the module and in every environment.
    [integration] = aws.resources["aws_apigatewayv2_integration"].values()
    assert integration["timeout_milliseconds"] == API_GATEWAY_TIMEOUT_MS
    assert aws.variables["lambda_timeout_s"]["default"] > longest_fnproxy_deadline_s()
    for env in ENVS:
        call = load_module(env_root(env, "aws")).modules["aws"]
        assert call["lambda_timeout_s"] > longest_fnproxy_deadline_s(), env
        assert expression(call["function_url_enabled"]) == "var.aws_function_url_enabled"


def test_serverless_api_function_url_serves_long_sync_calls(serverless: dict) -> None:
    api = serverless["functions"]["api"]
    assert api["url"] is True  # auth type NONE (no authorizer: fnproxy's JWTs), no cors
    assert api["timeout"] > longest_fnproxy_deadline_s()
    assert api["events"] == [{"httpApi": "*"}]  # the framework's integration waits 30 s
    [invoke] = [
        resource["Properties"]
        for resource in cf_resources(serverless).values()
        if resource["Type"] == "AWS::Lambda::Permission"
        and resource["Properties"].get("InvokedViaFunctionUrl") is True
    ]
    assert invoke["Action"] == "lambda:InvokeFunction" and invoke["Principal"] == "*"
    assert invoke["FunctionName"] == {"Fn::GetAtt": ["ApiLambdaFunction", "Arn"]}


# --- Terraform hygiene --------------------------------------------------------------------------


def test_variables_are_typed_and_described_and_outputs_described() -> None:
    folders = [AWS_MODULE, GCP_MODULE] + [env_root(env, cloud) for env in ENVS for cloud in CLOUDS]
    for folder in folders:
        module = load_module(folder)
        for name, body in module.variables.items():
            assert body.get("type") and body.get("description"), f"{folder.name}: variable {name}"
        for name, body in module.outputs.items():
            assert body.get("description"), f"{folder.name}: output {name}"


@pytest.mark.parametrize("env", ENVS)
def test_each_root_requires_its_own_cloud_only(env: str) -> None:
    """An AWS-only operator needs no Google credentials and the reverse (issue 17): a root
    requires, configures and calls only its own cloud's provider and module."""
    for cloud, provider in CLOUDS.items():
        root = load_module(env_root(env, cloud))
        other = next(c for c in CLOUDS if c != cloud)
        # Its own provider and what its module needs, nothing of the other cloud.
        needed = provider | required_providers(TERRAFORM / "modules" / cloud)
        assert required_providers(root.path) == needed, f"envs/{env}/{cloud}"
        assert re.findall(r'^provider "([a-z]+)"', root.text, re.M) == list(provider)
        assert not set(needed.values()) & set(CLOUDS[other].values()), f"modules/{cloud}"
        assert [call["source"] for call in root.modules.values()] == [f"../../../modules/{cloud}"]
        assert all("count" not in call and "for_each" not in call for call in root.modules.values())
        assert not any(name.startswith(f"{other}_") for name in root.variables), env
        assert not any(name.startswith(f"{other}_") for name in root.outputs), env


@pytest.mark.parametrize("env", ENVS)
def test_each_root_locks_its_own_provider(env: str) -> None:
    """`terraform init` installs the locked version and checks the download against the locked
    hashes: a root locks its own cloud's provider only, at a version its constraints and its
    module's allow."""
    for cloud, provider in CLOUDS.items():
        root = env_root(env, cloud)
        lock = hcl2.loads((root / ".terraform.lock.hcl").read_text(), serialization_options=HCL)
        locked = {address: body for block in lock["provider"] for address, body in block.items()}
        assert set(locked) == {f"registry.terraform.io/{s}" for s in provider.values()}, root
        for name, source in provider.items():
            entry = locked[f"registry.terraform.io/{source}"]
            for folder in (root, TERRAFORM / "modules" / cloud):
                wanted = provider_requirements(folder)[name]["version"]
                assert Version(entry["version"]) in terraform_constraint(wanted), (folder, wanted)
            assert entry["hashes"] and all(h.startswith(("zh:", "h1:")) for h in entry["hashes"])


def test_checkov_skips_give_their_reason() -> None:
    for path in terraform_files() + [SERVERLESS]:
        for skip in re.findall(r"checkov:skip=([A-Z0-9_]+)(:?)([^\n]*)", path.read_text()):
            assert skip[1] and len(skip[2].strip()) > 10, f"{path}: {skip[0]} has no reason"
    config = (ROOT / ".checkov.yaml").read_text(encoding="utf-8")
    skipped = yaml.safe_load(config)["skip-check"]
    lines = config.splitlines()
    for check in skipped:
        index = next(i for i, line in enumerate(lines) if line.strip() == f"- {check}")
        assert lines[index - 1].strip().startswith("#"), f".checkov.yaml: {check} has no reason"


# --- the archive (issue 15) ---------------------------------------------------------------------


def bucket_part(module: Module, kind: str, bucket: str) -> dict[str, Any]:
    """The one `kind` resource (public access block, encryption, lifecycle...) of `bucket`."""
    [body] = [b for b in module.resources[kind].values() if expression(b["bucket"]) == bucket]
    return body


def test_aws_archive_is_private_encrypted_and_expires(aws: Module) -> None:
    env = aws_environment(aws)
    kind, name, attribute = reference(env["BLOBS_BUCKET"])
    assert (kind, attribute) == ("aws_s3_bucket", "bucket") and name in aws.resources[kind]
    assert expression(env["BLOBS_PREFIX"]) == "var.blobs_prefix"
    assert aws.locals["blobs_key_prefix"] == "${var.blobs_prefix}/"
    bucket = f"aws_s3_bucket.{name}.id"

    block = bucket_part(aws, "aws_s3_bucket_public_access_block", bucket)
    assert all(block[flag] is True for flag in ("block_public_acls", "block_public_policy"))
    assert all(block[flag] is True for flag in ("ignore_public_acls", "restrict_public_buckets"))
    [ownership] = bucket_part(aws, "aws_s3_bucket_ownership_controls", bucket)["rule"]
    assert ownership["object_ownership"] == "BucketOwnerEnforced"
    [sse] = bucket_part(aws, "aws_s3_bucket_server_side_encryption_configuration", bucket)["rule"]
    default = sse["apply_server_side_encryption_by_default"][0]
    assert default["sse_algorithm"] == "aws:kms"
    assert expression(default["kms_master_key_id"]) == "local.kms_key_arn"

    rules = bucket_part(aws, "aws_s3_bucket_lifecycle_configuration", bucket)["rule"]
    assert all(rule["status"] == "Enabled" for rule in rules)
    [expiry, aborting] = rules
    assert expression(expiry["filter"][0]["prefix"]) == "local.blobs_key_prefix"
    assert expression(expiry["expiration"][0]["days"]) == "var.archive_retention_days"
    assert aborting["filter"] == [{}]  # the whole bucket
    assert aborting["abort_incomplete_multipart_upload"][0]["days_after_initiation"] == 1
    defaults = {
        v: aws.variables[v]["default"] for v in ("archive_retention_days", "history_retention_days")
    }
    assert defaults["archive_retention_days"] > defaults["history_retention_days"]


def test_aws_role_reaches_the_archive_under_its_prefix_only(aws: Module) -> None:
    statements = [
        s for s, _ in policy_statements(aws) if any(a.startswith("s3:") for a in s["actions"])
    ]
    [objects, listing] = [s for s in statements if not denies(s)]
    assert sorted(objects["actions"]) == ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    assert objects["resources"] == ["${aws_s3_bucket.blobs.arn}/${local.blobs_key_prefix}*"]
    assert listing["actions"] == ["s3:ListBucket"]
    assert listing["condition"] == [
        {"test": "StringLike", "variable": "s3:prefix", "values": ["${local.blobs_key_prefix}*"]}
    ]
    # The bucket policy's one statement refuses every request made without TLS.
    [tls_only] = [s for s in statements if denies(s)]
    assert tls_only["actions"] == ["s3:*"]
    assert tls_only["condition"] == [
        {"test": "Bool", "variable": "aws:SecureTransport", "values": ["false"]}
    ]


def test_serverless_archive_is_the_terraform_one(serverless: dict) -> None:
    env = serverless["provider"]["environment"]
    bucket_id = ref(env["BLOBS_BUCKET"], serverless, "AWS::S3::Bucket")
    properties = cf_resources(serverless)[bucket_id]["Properties"]
    assert all(properties["PublicAccessBlockConfiguration"].values())
    assert properties["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    [sse] = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert sse["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == {
        "Fn::GetAtt": ["FnproxyKey", "Arn"]
    }
    [expiry, aborting] = properties["LifecycleConfiguration"]["Rules"]
    assert expiry["Prefix"] == f"{env['BLOBS_PREFIX']}/"
    assert expiry["ExpirationInDays"] == "${param:archiveRetentionDays}"
    assert "Prefix" not in aborting  # the whole bucket
    assert aborting["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    params = serverless["params"]["default"]
    assert params["archiveRetentionDays"] > int(params["historyRetentionDays"])

    statements = {s["Sid"]: s for s in serverless["provider"]["iam"]["role"]["statements"]}
    objects, listing = (
        statements["UseTheArchiveUnderItsPrefix"],
        statements["ListTheArchivePrefixOnly"],
    )
    assert objects["Resource"] == [{"Fn::Sub": f"${{{bucket_id}.Arn}}/{env['BLOBS_PREFIX']}/*"}]
    assert listing["Action"] == ["s3:ListBucket"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": f"{env['BLOBS_PREFIX']}/*"}}
    [policy] = [
        r["Properties"]
        for r in cf_resources(serverless).values()
        if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    [tls_only] = policy["PolicyDocument"]["Statement"]
    assert tls_only["Effect"] == "Deny" and tls_only["Action"] == "s3:*"
    assert tls_only["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_gcp_archive_is_private_expires_and_is_reached_under_its_prefix_only(gcp: Module) -> None:
    env = next(iter(gcp_environments(gcp).values()))
    kind, name, attribute = reference(env["BLOBS_BUCKET"])
    assert (kind, attribute) == ("google_storage_bucket", "name")
    assert expression(env["BLOBS_PREFIX"]) == "var.blobs_prefix"
    assert gcp.locals["blobs_key_prefix"] == "${var.blobs_prefix}/"
    bucket = gcp.resource(f"{kind}.{name}")
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert bucket["versioning"] == [{"enabled": False}]
    assert bucket["soft_delete_policy"] == [{"retention_duration_seconds": 0}]
    [expiry] = [r for r in bucket["lifecycle_rule"] if r["action"][0]["type"] == "Delete"]
    assert expression(expiry["condition"][0]["age"]) == "var.archive_retention_days"
    assert expiry["condition"][0]["matches_prefix"] == ["${local.blobs_key_prefix}"]

    [grant] = [
        g
        for g in gcp.resources["google_storage_bucket_iam_member"].values()
        if expression(g["bucket"]) == f"{kind}.{name}.name"
    ]
    assert grant["role"] == "roles/storage.objectUser"
    assert expression(grant["for_each"]) == "local.runtime_members"
    condition = grant["condition"][0]["expression"]
    objects = f'resource.name.startsWith(\\"projects/_/buckets/${{{kind}.{name}.name}}/objects/'
    assert f"{objects}${{local.blobs_key_prefix}}" in condition
    listing = 'api.getAttribute(\\"storage.googleapis.com/objectListPrefix\\", \\"\\")'
    assert f'{listing}.startsWith(\\"${{local.blobs_key_prefix}}\\")' in condition

    # Signing without a key: each runtime account may signBlob as itself, and nothing more.
    signer = gcp.resource("google_service_account_iam_member.blobs_self_signer")
    assert signer["role"] == "roles/iam.serviceAccountTokenCreator"
    assert expression(signer["member"]) == "local.runtime_members[each.key]"
    assert expression(signer["service_account_id"]) == "each.value.name"
    assert "iamcredentials.googleapis.com" in gcp.locals["apis"]
