"""Secrets from the environment and `.env` (already merged into settings and the process
environment). The previous stage of NAME is NAME_PREVIOUS."""

from __future__ import annotations

import os
from collections.abc import Mapping

from core.secrets.base import Stage


class EnvSecretSource:
    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self._values = os.environ if values is None else values

    async def get(self, name: str, stage: Stage = "current", *, fresh: bool = False) -> str | None:
        """NAME or NAME_PREVIOUS, as the values hold them now (nothing is cached)."""
        key = name if stage == "current" else f"{name}_PREVIOUS"
        return self._values.get(key) or None

    async def ping(self) -> None:
        return None
