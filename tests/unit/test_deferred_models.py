"""Importing an entry point builds no pydantic validator (core/deferred_model.py): every model
of fnproxy derives from DeferredModel and nothing forces a build at import, so a cold start
pays only for the models its first request uses. A model built at import is named here."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CHECK = """
import json, sys
import pydantic
import {modules}
{then}

def subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)

print(json.dumps(sorted(
    f"{{model.__module__}}.{{model.__qualname__}}"
    for model in set(subclasses(pydantic.BaseModel))
    if model.__module__.startswith(("core.", "handlers.")) and model.__pydantic_complete__
)))
"""


def built_models(*modules: str, then: str = "") -> list[str]:
    script = CHECK.format(modules=", ".join(modules), then=then)
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(run.stdout)


ENTRY_POINTS = ["handlers.aws_lambda", "handlers.gcp_function", "handlers.local"]


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_importing_an_entry_point_builds_no_model(entry):
    assert built_models(entry, "core.api.app") == []


def test_the_check_sees_a_model_built_by_its_first_use():
    first_use = "core.api.schemas.InvokeRequest.model_json_schema()"

    assert "core.api.schemas.InvokeRequest" in built_models("core.api.schemas", then=first_use)
