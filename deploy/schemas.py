"""Write the data files the Terraform modules (and serverless.yml) read, from the code that
defines the stores, so the infrastructure cannot drift from it:

    terraform/modules/aws/dynamodb_table.json   core.store.dynamodb_schema: TABLE_DEFINITION
                                                (keys, attribute definitions, GSIs, billing mode)
                                                plus TimeToLiveSpecification on TTL_ATTRIBUTE, in
                                                the CloudFormation/DynamoDB API shape
    terraform/modules/gcp/firestore_schema.json core.store.firestore_schema.terraform_data(),
                                                with the placeholder prefix `{prefix}`: the GCP
                                                module replaces it with its collection_prefix
                                                variable (FIRESTORE_COLLECTION_PREFIX)

    python -m deploy.schemas           # (re)write both files
    python -m deploy.schemas --check   # exit 1, naming the stale files, when one is not current

tests/deploy/test_wiring.py compares both files with `render()`, so a change of the store layout
in core/store fails the tests until the files are regenerated.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from core.store import dynamodb_schema, firestore_schema

ROOT = Path(__file__).resolve().parent.parent
DYNAMODB_FILE = Path("terraform/modules/aws/dynamodb_table.json")
FIRESTORE_FILE = Path("terraform/modules/gcp/firestore_schema.json")
PREFIX_PLACEHOLDER = "{prefix}"


def dynamodb_table() -> dict[str, Any]:
    """TABLE_DEFINITION with the TTL specification, as AWS::DynamoDB::Table properties."""
    definition = json.loads(json.dumps(dynamodb_schema.TABLE_DEFINITION))
    definition["TimeToLiveSpecification"] = {
        "AttributeName": dynamodb_schema.TTL_ATTRIBUTE,
        "Enabled": True,
    }
    return definition


def firestore_schema_data() -> dict[str, Any]:
    return firestore_schema.terraform_data(PREFIX_PLACEHOLDER)


def render() -> dict[Path, str]:
    """{path relative to the repository root: the text it must hold}."""
    return {
        DYNAMODB_FILE: json.dumps(dynamodb_table(), indent=2, sort_keys=True) + "\n",
        FIRESTORE_FILE: json.dumps(firestore_schema_data(), indent=2) + "\n",
    }


def stale(root: Path = ROOT) -> list[Path]:
    """The generated files whose content differs from what the code gives now."""
    return [
        relative
        for relative, text in render().items()
        if not (root / relative).is_file() or (root / relative).read_text(encoding="utf-8") != text
    ]


def write(root: Path = ROOT) -> list[Path]:
    """Rewrite the stale files; the ones written."""
    changed = stale(root)
    texts = render()
    for relative in changed:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(texts[relative], encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.schemas", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when stale")
    args = parser.parse_args(argv)
    if args.check:
        outdated = stale()
        for relative in outdated:
            print(f"{relative} is not current: run python -m deploy.schemas", file=sys.stderr)
        return 1 if outdated else 0
    for relative in write():
        print(f"wrote {relative}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
