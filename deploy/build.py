"""Build the deployable artifacts: `python -m deploy.build` (what `make build` runs).

    build/aws/fnproxy-lambda.zip        core/, the AWS entry (handlers/aws_lambda.py) and the
                                        core + `aws` extra dependencies, installed for Lambda's
                                        python3.12 (cp312 manylinux x86_64 wheels up to glibc
                                        2.34: Amazon Linux 2023)
    build/gcp/source/                   main.py (re-exports `http` and `worker`), core/, the GCP
                                        entry (handlers/gcp_function.py), requirements.txt
                                        (core + `gcp` extra, every version pinned)
    build/gcp/fnproxy-gcp-source.zip    that folder, zipped (Cloud Functions' source upload)

and, only when asked for (`--only container`: the file is committed, so `docker build` works
from a clone):

    deploy/container/requirements.txt   what the image installs (Dockerfile): core + the local,
                                        aws and gcp extras for CPython 3.11 on Debian 12, every
                                        version pinned with the sha256 of its amd64 and arm64
                                        wheels; plus the build-only requirements of fnproxy
                                        itself (pyproject's build-system), named on its
                                        `# build-only:` line

Dependency versions are the ones of the environment running the build (the tested ones: `make
build` runs in the project's venv): every installed distribution is written to
build/constraints.txt and the installs are constrained by it. A package the environment lacks
resolves to its newest release with a wheel for the target.

The Lambda zip carries the bytecode of every module, compiled by a python3.12 (Lambda's; this
interpreter when it is one, else LAMBDA_PYTHON, else `python3.12` on PATH): /var/task is
read-only, so without it every cold start compiles each module it imports from source, and the
first answer took about twice as long (2,047 ms against 1,061, bench/aws_cold_start.py
--artifact). The .pyc files are hash-based and unchecked (the zip's fixed timestamps would fail
a timestamp check) and name /var/task/... as their source (the same bytes whatever the build
folder), so the zip stays reproducible. Without a python3.12 the build says so and ships the
zip without bytecode.

Of botocore's data, the zip keeps the models of the AWS services fnproxy makes clients of
(AWS_SERVICES) and drops the ~450 others: 27 MB of the 69 MB unzipped, and botocore lists every
service folder of its data when a process makes its first client. The build then makes a client
of each kept service from the package alone.

boto3/botocore are bundled in the Lambda zip although the python3.12 runtime has a copy: the
runtime's copy is older than the one the code is tested with and changes when AWS updates the
runtime, while bundling pins the version with the rest. The cost: about 22 MB unzipped and 16 MB
of the zip (botocore's data files are compressed already), within Lambda's 50 MB upload limit.

Every build checks what it made and fails otherwise:
- no Google distribution (`google*`, grpcio, functions-framework, ...) in the Lambda zip, and no
  AWS-only one (boto3, botocore, mangum, aws-lambda-powertools, ...) in the GCP requirements;
- no tests in either artifact, and no bytecode but the Lambda zip's own (cpython-312, beside
  every module);
- every file of the package-data folders (the /docs page's Swagger UI, core/api/docs_assets) in
  both: they are not Python, and the page is blank without them;
- the entry modules and every backend the platform loads import from the artifact alone, in a
  fresh interpreter without the project's environment (`-S -I`), without importing the other
  cloud's SDK (for GCP, the requirements are installed into build/gcp/check-site first;
  `--no-verify` skips that one, the slow part). A build interpreter of another Python version
  than Lambda's cannot load the zip's compiled modules: the same distributions, at the same
  versions, are then installed for the build interpreter into build/aws/check-site, which must
  hold exactly what the zip holds, and the zip's code imports with those.

The zips are reproducible: entries sorted, fixed timestamps and modes, so the same inputs give
the same bytes (and Terraform's `source_code_hash` only changes when the code does).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "fnproxy"


def manylinux(glibc_minor: int, machine: str = "x86_64") -> tuple[str, ...]:
    """Every manylinux tag of `machine` a glibc 2.<glibc_minor> system runs, newest first: pip
    matches a `--platform` tag exactly (it does not widen manylinux_2_35 to the older glibc
    tags)."""
    return (
        *(f"manylinux_2_{minor}_{machine}" for minor in range(glibc_minor, 16, -1)),
        f"manylinux2014_{machine}",
    )


@dataclass(frozen=True)
class Runtime:
    """Where an artifact runs: its Python version and the platform tags of the wheels it takes
    (none: this machine's)."""

    python_version: str
    platforms: tuple[str, ...]

    def pip_options(self) -> list[str]:
        return [
            *(option for tag in self.platforms for option in ("--platform", tag)),
            "--implementation",
            "cp",
            "--python-version",
            self.python_version,
            "--only-binary=:all:",
        ]


LAMBDA = Runtime("3.12", manylinux(34))
"""Lambda's python3.12 runs on Amazon Linux 2023 (glibc 2.34)."""
CLOUD_FUNCTIONS = Runtime("3.11", manylinux(35))
"""Cloud Functions' python311 runs on Ubuntu 22.04 (glibc 2.35)."""
BUILD_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
LAMBDA_TASK_ROOT = "/var/task"
"""Where Lambda unpacks the zip: the source path the bytecode names, for tracebacks."""

AWS_ZIP = Path("aws/fnproxy-lambda.zip")
GCP_SOURCE = Path("gcp/source")
GCP_ZIP = Path("gcp/fnproxy-gcp-source.zip")

PACKAGE_DATA = ("core/api/docs_assets", "core/api/dashboard/assets")
"""Folders of files the code reads at run time that are not Python (pyproject's package-data)."""

AWS_HANDLERS = ("handlers/__init__.py", "handlers/aws_lambda.py")
GCP_HANDLERS = ("handlers/__init__.py", "handlers/gcp_function.py")

# What each platform imports: the entry, and every backend module the wiring loads lazily for
# that platform's column (core/wiring.py), plus the providers that need no other cloud's SDK.
AWS_MODULES = (
    "handlers.aws_lambda",
    "core.store.dynamodb",
    "core.secrets.aws_secrets_manager",
    "core.secrets.references",
    "core.events.sns",
    "core.events.sqs",
    "core.metrics.emf",
    "core.blobs.s3",
    "core.providers.aws_lambda",
    "core.providers.http",
    "core.providers.openwhisk",
    "aws_lambda_powertools.utilities.batch",
)
GCP_MODULES = (
    "main",
    "core.store.firestore",
    "core.secrets.gcp_secret_manager",
    "core.secrets.references",
    "core.events.pubsub",
    "core.metrics.cloud_logging",
    "core.blobs.gcs",
    "google.cloud.storage",
    "core.providers.gcp_functions",
    "core.providers.http",
    "core.providers.openwhisk",
    "google.auth.transport.requests",
)
GOOGLE_ONLY = ("functions-framework", "grpcio", "grpcio-status", "grpc-google-iam-v1", "proto-plus")
AWS_ONLY = (
    "boto3",
    "botocore",
    "s3transfer",
    "mangum",
    "aws-lambda-powertools",
    "aws-xray-sdk",
)
AWS_SERVICES = ("dynamodb", "lambda", "s3", "secretsmanager", "sns", "sqs")
"""The services fnproxy's AWS backends make clients of (`core.aws_clients`): the only ones whose
botocore models the Lambda zip keeps."""
# Top-level modules that must stay out of a platform's imports.
AWS_SDK_MODULES = ("boto3", "botocore", "mangum", "aws_lambda_powertools", "aws_xray_sdk")
GOOGLE_SDK_MODULES = ("google", "grpc", "functions_framework")

MAIN_PY = '''"""Cloud Functions' python runtime loads `main.py`: the two entry points of
handlers/gcp_function.py, `http` (the API) and `worker` (the async topic's CloudEvents).
Generated by `python -m deploy.build`."""

from handlers.gcp_function import http, worker

__all__ = ["http", "worker"]
'''

ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class BuildError(RuntimeError):
    """The build made something it must not ship; the message says what."""


def normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    found = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if found is None:
        raise BuildError(f"cannot read the requirement {requirement!r}")
    return normalize(found.group(1))


def pyproject(root: Path = ROOT) -> dict:
    return tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))


def project_requirements(*extras: str, root: Path = ROOT) -> list[str]:
    """The core dependencies plus those of the optional `extras`, from pyproject.toml."""
    project = pyproject(root)["project"]
    optional = project["optional-dependencies"]
    return [*project["dependencies"], *(r for extra in extras for r in optional[extra])]


def is_google_only(name: str) -> bool:
    name = normalize(name)
    return name.startswith("google") or name in GOOGLE_ONLY


def is_aws_only(name: str) -> bool:
    return normalize(name) in AWS_ONLY


def environment_pins() -> dict[str, str]:
    """Every distribution of the running environment (the tested versions) but fnproxy."""
    pins: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name and normalize(name) != PROJECT:
            pins[normalize(name)] = dist.version
    return dict(sorted(pins.items()))


def pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(
            f"pip failed ({' '.join(command)}):\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )


def install_for(
    runtime: Runtime, requirements: Iterable[str], target: Path, constraints: Path
) -> None:
    """The requirements and their dependencies as wheels for `runtime`, unpacked in `target`."""
    shutil.rmtree(target, ignore_errors=True)
    pip(
        "install",
        "--quiet",
        "--no-compile",
        "--upgrade",
        "--target",
        str(target),
        "--constraint",
        str(constraints),
        *runtime.pip_options(),
        *requirements,
    )
    # Console scripts (their shebangs name this machine's interpreter) are of no use there.
    shutil.rmtree(target / "bin", ignore_errors=True)


def resolve_report(
    runtime: Runtime, requirements: Iterable[str], report: Path, constraints: Path | None
) -> list[dict]:
    """pip's report of everything it would install for `runtime` (nothing is installed): one
    item per distribution, with its metadata and the file it would download."""
    report.parent.mkdir(parents=True, exist_ok=True)
    pip(
        "install",
        "--quiet",
        "--dry-run",
        "--ignore-installed",
        "--report",
        str(report),
        *(("--constraint", str(constraints)) if constraints else ()),
        *runtime.pip_options(),
        *requirements,
    )
    return json.loads(report.read_text(encoding="utf-8"))["install"]


def resolve_for(
    runtime: Runtime, requirements: Iterable[str], report: Path, constraints: Path
) -> dict[str, str]:
    """{name: version} of everything pip would install for `runtime` (nothing is installed)."""
    installs = resolve_report(runtime, requirements, report, constraints)
    return {normalize(item["metadata"]["name"]): item["metadata"]["version"] for item in installs}


def installed_distributions(site: Path) -> dict[str, str]:
    """{name: version} of the distributions unpacked into `site`."""
    found: dict[str, str] = {}
    for info in site.glob("*.dist-info"):
        metadata = (info / "METADATA").read_text(encoding="utf-8", errors="replace")
        name = re.search(r"^Name: (.+)$", metadata, re.MULTILINE)
        version = re.search(r"^Version: (.+)$", metadata, re.MULTILINE)
        if name and version:
            found[normalize(name.group(1).strip())] = version.group(1).strip()
    return found


def copy_sources(destination: Path, handlers: Iterable[str], root: Path = ROOT) -> None:
    """core/ (every module: the wiring imports backends lazily) and the platform's entry."""
    shutil.copytree(
        root / "core", destination / "core", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    for relative in handlers:
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / relative, target)


def check_package_data(tree: Path, what: str, root: Path = ROOT) -> None:
    """Fail unless every file of the PACKAGE_DATA folders reached `tree`."""
    missing = sorted(
        path.relative_to(root).as_posix()
        for folder in PACKAGE_DATA
        for path in (root / folder).rglob("*")
        if path.is_file() and not (tree / path.relative_to(root)).is_file()
    )
    if missing:
        raise BuildError(f"{what} lacks package data: {missing}")


def strip_bytecode(tree: Path) -> None:
    for cache in sorted(tree.rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache)
    for compiled in tree.rglob("*.py[co]"):
        compiled.unlink()


def forbidden_files(tree: Path, bytecode_tag: str | None = None) -> list[str]:
    """The project's tests, and bytecode but the `bytecode_tag` (e.g. cpython-312) .pyc files
    of the modules beside them: none may ship."""
    bad = []
    for path in tree.rglob("*"):
        relative = path.relative_to(tree).as_posix()
        if path.name == "__pycache__" or path.suffix in (".pyc", ".pyo"):
            if not is_module_bytecode(path, bytecode_tag):
                bad.append(relative)
        elif relative == "tests" or relative.startswith(("tests/", "core/tests", "handlers/tests")):
            bad.append(relative)
    return sorted(bad)


def is_module_bytecode(path: Path, tag: str | None) -> bool:
    """`path` is a __pycache__ folder, or the `tag` bytecode of a module beside its folder."""
    if tag is None:
        return False
    if path.is_dir():
        return True
    module, _, rest = path.name.partition(".")
    return (
        path.parent.name == "__pycache__"
        and rest == f"{tag}.pyc"
        and (path.parent.parent / f"{module}.py").is_file()
    )


def lambda_python() -> str | None:
    """A python of Lambda's version: this one when it is, else LAMBDA_PYTHON (which must be),
    else `python3.12` on PATH when it runs; None without one."""
    if BUILD_PYTHON == LAMBDA.python_version:
        return sys.executable
    named = os.environ.get("LAMBDA_PYTHON")
    candidate = named or shutil.which(f"python{LAMBDA.python_version}")
    if candidate and python_version(candidate) == LAMBDA.python_version:
        return candidate
    if named:
        raise BuildError(f"LAMBDA_PYTHON={named} is not a python{LAMBDA.python_version}")
    return None


def python_version(python: str) -> str | None:
    """`major.minor` of the interpreter `python`, None when it does not run."""
    version = "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"
    result = subprocess.run([python, "-c", version], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def compile_bytecode(tree: Path, python: str) -> None:
    """Every module of `tree` compiled by `python`, hash-based and unchecked, naming
    LAMBDA_TASK_ROOT/... as its source (see the module docstring)."""
    folder = str(tree.resolve())
    command = [python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode"]
    command += ["unchecked-hash", "-s", folder, "-p", LAMBDA_TASK_ROOT, folder]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"compiling the package's bytecode failed:\n{result.stdout[-3000:]}")


def write_zip(tree: Path, archive: Path) -> None:
    """`tree`'s files into `archive`, reproducibly (sorted, fixed time and modes)."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_suffix(".zip.partial")
    files = sorted(p for p in tree.rglob("*") if p.is_file())
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as bundle:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(tree).as_posix(), ZIP_TIME)
            executable = os.access(path, os.X_OK) and path.suffix == ".so"
            info.external_attr = (0o100755 if executable else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with path.open("rb") as source, bundle.open(info, "w") as sink:
                shutil.copyfileobj(source, sink, 1 << 20)
    partial.replace(archive)


def isolated_run(paths: Iterable[Path], body: str, failure: str) -> str:
    """`body` run in a fresh interpreter that sees the standard library and `paths` only; its
    standard output, or a BuildError saying `failure` with the end of its errors."""
    script = f"import sys\nsys.path[:0] = {[str(p) for p in paths]!r}\n{body}"
    env = {"PATH": os.environ.get("PATH", "")}
    # -I ignores PYTHON* variables: -B (no bytecode) must be a flag.
    result = subprocess.run(
        [sys.executable, "-B", "-S", "-I", "-c", script], capture_output=True, text=True, env=env
    )
    if result.returncode != 0:
        raise BuildError(f"{failure}:\n{result.stderr[-3000:]}")
    return result.stdout


def import_check(paths: Iterable[Path], modules: Iterable[str], banned: Iterable[str]) -> None:
    """Import `modules` with only `paths` to import from; fail when one is missing or when a
    `banned` top-level module got imported."""
    body = (
        "import importlib, json\n"
        f"for name in {list(modules)!r}:\n"
        "    importlib.import_module(name)\n"
        f"banned = {list(banned)!r}\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(banned))))\n"
    )
    output = isolated_run(paths, body, "the artifact does not import on its own")
    leaked = json.loads(output.strip().splitlines()[-1])
    if leaked:
        raise BuildError(f"importing the entry loaded the other cloud's SDK: {leaked}")


def prune_botocore_data(site: Path, services: Iterable[str] = AWS_SERVICES) -> None:
    """The botocore models of every service but `services` removed from `site` (its data files
    that are not a service's, endpoints and partitions, stay)."""
    kept = set(services)
    for folder in (site / "botocore" / "data").iterdir():
        if folder.is_dir() and folder.name not in kept:
            shutil.rmtree(folder)


def client_check(paths: Iterable[Path], services: Iterable[str] = AWS_SERVICES) -> None:
    """Make a client of each of `services` with only `paths` to import from (no call is made:
    clients resolve credentials on their first)."""
    body = (
        "import boto3.session\n"
        "session = boto3.session.Session(region_name='us-east-1')\n"
        f"for name in {list(services)!r}:\n"
        "    session.client(name)\n"
    )
    isolated_run(paths, body, "the package cannot make its AWS clients")


def tree_size(tree: Path) -> int:
    return sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())


def zip_size(archive: Path) -> tuple[int, int]:
    """(zipped, unzipped) bytes."""
    with zipfile.ZipFile(archive) as bundle:
        return archive.stat().st_size, sum(i.file_size for i in bundle.infolist())


@dataclass(frozen=True)
class Artifact:
    name: str
    path: Path
    zipped: int | None
    unzipped: int
    files: int
    sha256: str | None


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def seal(
    folder: Path, archive: Path, what: str, bytecode_python: str | None = None
) -> tuple[int, int, int]:
    """Zip `folder` into `archive` once nothing it must not ship is left in it (bytecode the
    import check wrote is removed first, then compiled anew by `bytecode_python` when given);
    its zipped and unzipped sizes and its file count."""
    strip_bytecode(folder)
    tag = None
    if bytecode_python is not None:
        compile_bytecode(folder, bytecode_python)
        tag = f"cpython-{LAMBDA.python_version.replace('.', '')}"
    bad = forbidden_files(folder, tag)
    if bad:
        raise BuildError(f"{what} holds files it must not ship: {bad[:10]}")
    write_zip(folder, archive)
    zipped, unzipped = zip_size(archive)
    return zipped, unzipped, sum(1 for p in folder.rglob("*") if p.is_file())


def lambda_import_paths(
    stage: Path, requirements: list[str], out: Path, constraints: Path
) -> list[Path]:
    """Where the Lambda package is import-checked from: the package itself when this interpreter
    is Lambda's Python, else its twin for this interpreter (build/aws/check-site, searched first)
    with the package's own code, after checking the twin holds the same distributions."""
    if BUILD_PYTHON == LAMBDA.python_version:
        return [stage]
    twin = out / "aws" / "check-site"
    install_for(Runtime(BUILD_PYTHON, platforms=()), requirements, twin, constraints)
    prune_botocore_data(twin)
    packaged, checked = installed_distributions(stage), installed_distributions(twin)
    if packaged != checked:
        differ = sorted(set(packaged.items()) ^ set(checked.items()))
        raise BuildError(f"python{BUILD_PYTHON} resolves other distributions: {differ}")
    return [twin, stage]


def build_aws(out: Path, constraints: Path, root: Path = ROOT) -> list[Artifact]:
    stage = out / "aws" / "package"
    requirements = project_requirements("aws", root=root)
    install_for(LAMBDA, requirements, stage, constraints)
    google = sorted(n for n in installed_distributions(stage) if is_google_only(n))
    if google or (stage / "google").exists():
        raise BuildError(f"Google libraries ended up in the Lambda package: {google or 'google/'}")
    prune_botocore_data(stage)
    copy_sources(stage, AWS_HANDLERS, root)
    check_package_data(stage, "the Lambda package", root)
    paths = lambda_import_paths(stage, requirements, out, constraints)
    import_check(paths, AWS_MODULES, GOOGLE_SDK_MODULES)
    client_check(paths)
    archive = out / AWS_ZIP
    python = lambda_python()
    if python is None:
        print(
            f"warning: no python{LAMBDA.python_version} (LAMBDA_PYTHON or on PATH): the Lambda "
            "zip ships without bytecode, and each cold start compiles every module it imports",
            file=sys.stderr,
        )
    zipped, unzipped, files = seal(stage, archive, "the Lambda package", python)
    return [Artifact("aws lambda zip", archive, zipped, unzipped, files, digest(archive))]


def gcp_requirements_text(pins: dict[str, str], direct: Iterable[str]) -> str:
    direct_names = sorted({requirement_name(r) for r in direct})
    lines = [
        "# fnproxy on Cloud Functions (python311): core + the `gcp` extra of pyproject.toml,",
        "# with every dependency pinned. Generated by `python -m deploy.build`: do not edit.",
        f"# direct: {', '.join(direct_names)}",
    ]
    lines += [f"{name}=={version}" for name, version in sorted(pins.items())]
    return "\n".join(lines) + "\n"


def build_gcp(out: Path, constraints: Path, verify: bool, root: Path = ROOT) -> list[Artifact]:
    source = out / GCP_SOURCE
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir(parents=True)
    requirements = project_requirements("gcp", root=root)
    pins = resolve_for(CLOUD_FUNCTIONS, requirements, out / "gcp" / "resolved.json", constraints)
    aws = sorted(name for name in pins if is_aws_only(name))
    if aws:
        raise BuildError(f"AWS-only packages ended up in the GCP requirements: {aws}")
    (source / "requirements.txt").write_text(gcp_requirements_text(pins, requirements), "utf-8")
    (source / "main.py").write_text(MAIN_PY, encoding="utf-8")
    copy_sources(source, GCP_HANDLERS, root)
    check_package_data(source, "the GCP source", root)
    if verify:
        site = out / "gcp" / "check-site"
        install_for(CLOUD_FUNCTIONS, ["-r", str(source / "requirements.txt")], site, constraints)
        installed = installed_distributions(site)
        aws = sorted(name for name in installed if is_aws_only(name))
        if aws:
            raise BuildError(f"installing the GCP requirements brings AWS-only packages: {aws}")
        import_check([source, site], GCP_MODULES, AWS_SDK_MODULES)
    archive = out / GCP_ZIP
    zipped, unzipped, files = seal(source, archive, "the GCP source")
    artifacts = [
        Artifact("gcp source folder", source, None, tree_size(source), files, None),
        Artifact("gcp source zip", archive, zipped, unzipped, files, digest(archive)),
    ]
    if verify:
        site_files = sum(1 for p in site.rglob("*") if p.is_file())
        artifacts.append(
            Artifact(
                "gcp installed deps (check only)", site, None, tree_size(site), site_files, None
            )
        )
    return artifacts


CONTAINER_MACHINES = ("x86_64", "aarch64")
CONTAINER_RUNTIMES = tuple(
    Runtime("3.11", manylinux(36, machine)) for machine in CONTAINER_MACHINES
)
"""The image's Python: the Dockerfile's python:3.11 slim base (Debian 12, glibc 2.36), on amd64
and arm64."""
CONTAINER_EXTRAS = ("local", "aws", "gcp")
"""`fnproxy serve` (local) and both clouds' backends: FNPROXY_PLATFORM picks them at run time."""
CONTAINER_REQUIREMENTS = Path("deploy/container/requirements.txt")
BUILD_ONLY = "# build-only:"
"""The line naming what the image installs only to build fnproxy itself, then removes."""


@dataclass(frozen=True)
class Pin:
    version: str
    hashes: frozenset[str]


def hashed_pins(items: list[dict]) -> dict[str, Pin]:
    """{name: version and the sha256 of the file pip chose} of a resolution report."""
    pins = {}
    for item in items:
        name = normalize(item["metadata"]["name"])
        sha256 = item.get("download_info", {}).get("archive_info", {}).get("hashes", {})
        if "sha256" not in sha256:
            raise BuildError(f"pip names no sha256 of the file of {name}")
        pins[name] = Pin(item["metadata"]["version"], frozenset({sha256["sha256"]}))
    return pins


def merge_pins(resolutions: list[dict[str, Pin]]) -> dict[str, Pin]:
    """One pin per distribution with the hashes of every resolution's file; every resolution
    must hold the same distributions at the same versions (one file serves them all)."""
    versions = [{name: pin.version for name, pin in pins.items()} for pins in resolutions]
    for other in versions[1:]:
        if other != versions[0]:
            differ = sorted(set(versions[0].items()) ^ set(other.items()))
            raise BuildError(f"the image's architectures resolve other distributions: {differ}")
    return {
        name: Pin(version, frozenset().union(*(pins[name].hashes for pins in resolutions)))
        for name, version in versions[0].items()
    }


def resolve_hashed(
    requirements: list[str], report: Path, constraints: Path | None
) -> dict[str, Pin]:
    """The requirements resolved for every architecture of the image, hashes merged."""
    return merge_pins(
        [
            hashed_pins(
                resolve_report(
                    runtime,
                    requirements,
                    report.with_name(f"{report.stem}-{machine}.json"),
                    constraints,
                )
            )
            for machine, runtime in zip(CONTAINER_MACHINES, CONTAINER_RUNTIMES, strict=True)
        ]
    )


def container_requirements_text(
    runtime: dict[str, Pin], build_only: dict[str, Pin], direct: Iterable[str]
) -> str:
    extras = ", ".join(CONTAINER_EXTRAS[:-1]) + f" and {CONTAINER_EXTRAS[-1]}"
    lines = [
        "# fnproxy's container image (Dockerfile, deploy/container/install.sh): the core",
        f"# dependencies and the {extras} extras of pyproject.toml for CPython 3.11 on",
        f"# Debian 12 (glibc 2.36), {' and '.join(CONTAINER_MACHINES)}; every version pinned, with",
        "# the sha256 of each architecture's wheel. Generated from the tested environment's",
        "# versions by `python -m deploy.build --only container`: do not edit.",
        f"# direct: {', '.join(sorted({requirement_name(r) for r in direct}))}",
        " ".join([BUILD_ONLY, *sorted(build_only)]),
    ]
    for name, pin in sorted((runtime | build_only).items()):
        hashes = (f"    --hash=sha256:{sha256}" for sha256 in sorted(pin.hashes))
        lines.append(" \\\n".join([f"{name}=={pin.version}", *hashes]))
    return "\n".join(lines) + "\n"


def build_container(out: Path, constraints: Path, root: Path = ROOT) -> list[Artifact]:
    """deploy/container/requirements.txt: what the image installs, hashed. fnproxy's own build
    requirements (pyproject's build-system) resolve without the environment's versions (its
    setuptools may be older than the build needs); those the runtime lacks are build-only."""
    requirements = project_requirements(*CONTAINER_EXTRAS, root=root)
    runtime = resolve_hashed(requirements, out / "container" / "runtime.json", constraints)
    builder = resolve_hashed(
        pyproject(root)["build-system"]["requires"], out / "container" / "build.json", None
    )
    clash = sorted(n for n in builder if n in runtime and builder[n] != runtime[n])
    if clash:
        raise BuildError(f"the build and the runtime need other versions of {clash}")
    build_only = {name: pin for name, pin in builder.items() if name not in runtime}
    target = root / CONTAINER_REQUIREMENTS
    target.write_text(container_requirements_text(runtime, build_only, requirements), "utf-8")
    name = f"container requirements ({len(runtime) + len(build_only)} pins)"
    return [Artifact(name, target, None, target.stat().st_size, 1, None)]


def human(size: int | None) -> str:
    if size is None:
        return "-"
    return f"{size / 1024 / 1024:.1f} MiB" if size >= 1024 * 1024 else f"{size / 1024:.0f} KiB"


def size_table(artifacts: Iterable[Artifact], root: Path = ROOT) -> str:
    rows = [("artifact", "path", "zipped", "unzipped", "files")]
    for item in artifacts:
        try:
            shown = item.path.relative_to(root).as_posix()
        except ValueError:
            shown = str(item.path)
        rows.append((item.name, shown, human(item.zipped), human(item.unzipped), str(item.files)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for number, row in enumerate(rows):
        lines.append(
            "  ".join(
                cell.ljust(width) if i < 2 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
        )
        if number == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def write_constraints(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    constraints = out / "constraints.txt"
    pins = environment_pins()
    constraints.write_text("".join(f"{n}=={v}\n" for n, v in pins.items()), encoding="utf-8")
    return constraints


def steps(targets: Iterable[str]) -> Iterator[str]:
    yield from (t for t in ("aws", "gcp", "container") if t in targets)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.build", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", type=Path, default=ROOT / "build", help="output folder (build/)")
    parser.add_argument(
        "--only",
        choices=("aws", "gcp", "container"),
        action="append",
        help="build one target (repeatable); container, which rewrites the committed "
        "deploy/container/requirements.txt, is built only when named",
    )
    parser.add_argument(
        "--no-verify",
        action="store_true",
        help="skip installing the GCP requirements to import-check the GCP source",
    )
    args = parser.parse_args(argv)
    out = args.out.resolve()
    started = time.monotonic()
    try:
        constraints = write_constraints(out)
        artifacts: list[Artifact] = []
        for target in steps(args.only or ("aws", "gcp")):
            step_start = time.monotonic()
            if target == "aws":
                artifacts += build_aws(out, constraints)
            elif target == "gcp":
                artifacts += build_gcp(out, constraints, verify=not args.no_verify)
            else:
                artifacts += build_container(out, constraints)
            print(f"built {target} in {time.monotonic() - step_start:.1f} s", file=sys.stderr)
    except BuildError as error:
        print(f"build failed: {error}", file=sys.stderr)
        return 1
    print(size_table(artifacts))
    for item in artifacts:
        if item.sha256:
            print(f"sha256 {item.sha256}  {item.path.name}")
    print(f"build took {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
