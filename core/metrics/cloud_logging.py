"""The metrics on GCP: one structured log line per observation, on the `fnproxy.metrics` logger.

The Cloud Functions entry (`handlers.gcp_function`) writes each line as Cloud Logging JSON whose
jsonPayload carries the record's `json_fields`: `metric` (the port's name: `invocations`,
`retries`, `circuit_state`, `store_errors`) and its labels (`function`, `provider`, `status`,
`success`, `duration_ms`; `target`, `state`; `operation`). The log-based metrics of
terraform/modules/gcp/monitoring.tf count them (and read `duration_ms` into a distribution).

Why log-based metrics rather than the Monitoring API: a line costs one stdout write on the
request path and its bytes in Cloud Logging's ingestion (about 250 bytes an outcome; the first
50 GiB a month of a project are free), while Cloud Monitoring bills a log-based metric by the
samples it writes (one per time series a minute, however many invocations). The Monitoring API
would add a network call per invocation (`timeSeries.create`) or a buffer flushed in the
background, which a Cloud Function's instance, whose CPU is throttled between requests, cannot
rely on; and it takes at most one point per time series every 5 seconds, so it would need that
buffer anyway. The queue depth is Pub/Sub's own (`num_undelivered_messages`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from core.metrics import base

METRICS_LOGGER = "fnproxy.metrics"
JSON_FIELDS = "json_fields"
"""The log record attribute whose fields become the line's jsonPayload fields."""


class LogMetrics:
    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._logger = logger or logging.getLogger(METRICS_LOGGER)
        self._logger.setLevel(logging.INFO)  # whatever LOG_LEVEL: the metrics are these lines

    def _line(self, metric: str, summary: str, **fields: object) -> None:
        self._logger.info(
            "%s %s", metric, summary, extra={JSON_FIELDS: {"metric": metric, **fields}}
        )

    def invocation(
        self, function: str, provider: str, status: str, success: bool, duration_ms: float
    ) -> None:
        self._line(
            base.INVOCATIONS,
            f"{function} {status}",
            function=function,
            provider=provider,
            status=status,
            success=success,
            duration_ms=duration_ms,
        )

    def retry(self, function: str, provider: str) -> None:
        self._line(base.RETRIES, function, function=function, provider=provider)

    def circuit(self, target: str, state: str) -> None:
        self._line(base.CIRCUIT_STATE, f"{target} {state}", target=target, state=state)

    def store_error(self, operation: str) -> None:
        self._line(base.STORE_ERRORS, operation, operation=operation)

    def watch_queue(self, depth: Callable[[], int]) -> None:
        return None  # Pub/Sub reports its own backlog

    def exposition(self) -> base.Exposition | None:
        return None  # read from the logs
