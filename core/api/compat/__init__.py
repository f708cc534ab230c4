"""Seed-compatible routes: each old action module's REST surface under its own prefix, with its
request and response shapes, mapped onto the same services as the native API (no logic of
their own). Every error of these routes carries the seeds' failure members too."""

from __future__ import annotations

from dataclasses import replace

from core.api.compat import gcp_module, lambda_module, openwhisk_module
from core.api.compat._seed import seed_problem
from core.api.endpoints import Endpoint


def compat_endpoints() -> list[Endpoint]:
    endpoints = [*lambda_module.ENDPOINTS, *gcp_module.ENDPOINTS, *openwhisk_module.ENDPOINTS]
    return [
        replace(endpoint, problem_fields=seed_problem, invalid_body_status=400)
        for endpoint in endpoints
    ]
