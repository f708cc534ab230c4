"""The AAA audit trail: one JSON line per request on the `fnproxy.audit` logger.

Only who, what, on which resource, the decision and the outcome, and the process that answered
(`pid`: which of `fnproxy serve`'s worker processes, when it runs several): never a token, a
secret or a payload.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

import orjson

from core.auth.principal import Principal
from core.models import iso

AUDIT_LOGGER = "fnproxy.audit"
ANONYMOUS = "anonymous"


class AuditLog:
    def __init__(
        self, logger: logging.Logger | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self._logger = logger or logging.getLogger(AUDIT_LOGGER)
        self._clock = clock

    @property
    def enabled(self) -> bool:
        """Whether a `record` would write its line (callers may skip gathering one if not)."""
        return self._logger.isEnabledFor(logging.INFO)

    def record(
        self,
        *,
        request_id: str,
        principal: Principal | str | None,
        action: str,
        resource: str | None,
        decision: str,
        outcome: int | str,
        duration_ms: float | None = None,
    ) -> None:
        """Log one request. `principal` is the caller, its subject, or None (anonymous);
        `decision` is "allow" or "deny"; `outcome` the HTTP status or "error"."""
        if not self.enabled:
            return
        entry = {
            "ts": iso(self._clock()),
            "request_id": request_id,
            "principal": _subject(principal),
            "action": action,
            "resource": resource,
            "decision": decision,
            "outcome": outcome,
            "pid": os.getpid(),
        }
        if duration_ms is not None:
            entry["duration_ms"] = round(duration_ms, 3)
        self._logger.info(orjson.dumps(entry).decode())


def _subject(principal: Principal | str | None) -> str:
    if principal is None:
        return ANONYMOUS
    return principal if isinstance(principal, str) else principal.subject
