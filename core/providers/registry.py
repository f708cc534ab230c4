"""Providers by name, each built on first use from a factory the composition root supplies
(so a provider's SDK is imported only when a target of that provider is invoked)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from core.errors import NotSupported, UnknownProvider
from core.providers.base import Provider
from core.targets import PROVIDER_NAMES

ProviderFactory = Callable[[], Provider]


class ProviderRegistry:
    def __init__(self, factories: dict[str, ProviderFactory]) -> None:
        self._factories = factories
        self._built: dict[str, Provider] = {}

    def get(self, name: str) -> Provider:
        provider = self._built.get(name)
        if provider is None:
            provider = self._built[name] = self._build(name)
        return provider

    def _build(self, name: str) -> Provider:
        factory = self._factories.get(name)
        if factory is not None:
            try:
                return factory()
            except ImportError as missing:  # e.g. the Lambda zip holds no Google library
                raise NotSupported(
                    f"provider {name!r} is not in this build: {missing.name or missing} "
                    "is not installed"
                ) from missing
        if name in PROVIDER_NAMES:
            raise NotSupported(f"provider {name!r} is not enabled in this deployment")
        raise UnknownProvider(f"unknown provider {name!r}; known: {', '.join(PROVIDER_NAMES)}")

    @property
    def enabled(self) -> list[str]:
        return sorted(self._factories)

    async def close(self) -> None:
        await asyncio.gather(*(p.close() for p in self._built.values()), return_exceptions=True)
        self._built.clear()
