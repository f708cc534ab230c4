"""The base of every pydantic model of fnproxy: its validator and serializer are built on first
use, not when its class is defined.

A process imports all ~75 models of the API (native routes, the seeds' compat routes, views,
events, policies) and its first request uses a handful. Building each model's pydantic-core
schema at import was about a fifth of the AWS entry's own import time (225-270 ms, then
180-200 ms deferred, on the 2-core bench machine after the dependencies' imports); deferred, a
model pays it once, on its first validation, serialization or JSON schema.

pydantic also looks for plugins among every installed distribution's entry points when it builds
its first validator (about 25 ms); fnproxy uses none, so the scan is off unless the operator sets
PYDANTIC_DISABLE_PLUGINS themselves.
"""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict

os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")


class DeferredModel(BaseModel):
    """A pydantic model whose schema is built on first use (a subclass's `model_config` is
    merged with this one's, so it keeps `defer_build`)."""

    model_config = ConfigDict(defer_build=True)
