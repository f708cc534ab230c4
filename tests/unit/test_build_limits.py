"""What a deployment's build or settings cannot do is refused with a clear error."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from core.config import ConfigError, load_settings
from core.errors import NotSupported
from core.providers.registry import ProviderRegistry
from core.wiring import build_pubsub_delivery


def test_a_provider_whose_sdk_is_not_in_the_build_is_not_supported() -> None:
    def without_sdk():
        import google_sdk_that_is_not_installed  # noqa: F401

    providers = ProviderRegistry({"gcp_functions": without_sdk})
    with pytest.raises(NotSupported, match="google_sdk_that_is_not_installed"):
        providers.get("gcp_functions")


def test_pubsub_needs_at_least_five_delivery_attempts() -> None:
    settings = load_settings({"ASYNC_MAX_RECEIVE_COUNT": "3"}, dotenv=None)
    with pytest.raises(ConfigError, match="ASYNC_MAX_RECEIVE_COUNT"):
        build_pubsub_delivery(SimpleNamespace(settings=settings))
