"""Seed-compatible routes: each old action module's REST surface under its own prefix, with its
request and response shapes, mapped onto the same services as the native API (no logic of
their own). A module here exports `ENDPOINTS` like the native route modules."""

from __future__ import annotations

import importlib

from core.api.endpoints import Endpoint

SEED_MODULES = ("lambda_module", "gcp_module", "openwhisk_module")


def compat_endpoints() -> list[Endpoint]:
    """The endpoints of every seed module present (each lands on its own)."""
    endpoints: list[Endpoint] = []
    for name in SEED_MODULES:
        try:
            module = importlib.import_module(f"core.api.compat.{name}")
        except ModuleNotFoundError as missing:
            if missing.name != f"core.api.compat.{name}":
                raise
            continue
        endpoints += module.ENDPOINTS
    return endpoints
