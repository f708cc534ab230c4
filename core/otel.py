"""OpenTelemetry spans of invocations, exported over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT
is set (`pip install fnproxy[otel]`). This module imports the SDK: `core.wiring` imports it only
then, so a deployment without the setting never loads the SDK (its cold start is unchanged).

One span per invocation and one per attempt, built from what the runner recorded, with the ids
of the execution's trace context (`core.tracing`): the invocation span has the execution's own
span id and the caller's span as its parent; an attempt span has the span id the target got
in its `traceparent`, and the invocation span as its parent. So the exported trace is the one
the caller, fnproxy's records and CloudEvents, and the targets see.
"""

from __future__ import annotations

import os
import time
from typing import Any

from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from core.models import Execution
from core.providers.base import InvocationOutcome
from core.tracing import TraceContext, recorded_trace

SCOPE = InstrumentationScope("fnproxy")
TRACES_PATH = "/v1/traces"
"""What the OTLP/HTTP exporter adds to OTEL_EXPORTER_OTLP_ENDPOINT (the OTel specification's
rule for the signal-less endpoint setting)."""


class OtelSpans:
    """Hands each ended span to `processor` (a batching OTLP exporter, or in tests a simple
    processor over an in-memory exporter)."""

    def __init__(self, processor: SpanProcessor, resource: Resource | None = None) -> None:
        self._processor = processor
        self._resource = resource or Resource.create(
            {SERVICE_NAME: os.environ.get("OTEL_SERVICE_NAME", "fnproxy")}
        )

    @classmethod
    def exporting_to(cls, endpoint: str) -> OtelSpans:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + TRACES_PATH)
        return cls(BatchSpanProcessor(exporter))

    def attempt(
        self,
        execution: Execution,
        trace: TraceContext,
        started_ns: int,
        outcome: InvocationOutcome | None,
        error: BaseException | None,
    ) -> None:
        """The span of one attempt (`trace` is the context its target got)."""
        own = recorded_trace(execution)
        attributes = {
            **_function(execution),
            "fnproxy.attempt": execution.attempts,
            "fnproxy.retry_count": execution.attempts - 1,
        }
        if outcome is not None:
            attributes["fnproxy.status_code"] = outcome.status_code
            failed = outcome.success is False
            message = None
        else:
            failed, message = True, type(error).__name__ if error is not None else None
        if message:
            attributes["fnproxy.error"] = message
        status = Status(StatusCode.ERROR, message) if failed else Status(StatusCode.OK)
        parent = _span_context(own.trace_id, own.span_id, own.flags, remote=False)
        self._end(f"attempt {execution.function}", trace, parent, attributes, status, started_ns)

    def invocation(self, execution: Execution) -> None:
        """The span of an ended invocation, from its acceptance to its end."""
        own = recorded_trace(execution)
        parent = None
        if execution.parent_span_id:
            parent = _span_context(own.trace_id, execution.parent_span_id, own.flags, remote=True)
        attributes = {
            **_function(execution),
            "fnproxy.execution_id": execution.execution_id,
            "fnproxy.mode": execution.mode,
            "fnproxy.status": execution.status,
            "fnproxy.retry_count": max(execution.attempts - 1, 0),
        }
        if execution.status_code is not None:
            attributes["fnproxy.status_code"] = execution.status_code
        failed = execution.success is False
        status = Status(StatusCode.ERROR, execution.status) if failed else Status(StatusCode.OK)
        started_ns = int(execution.created_at * 1e9)
        ended_ns = int((execution.finished_at or execution.updated_at) * 1e9)
        name = f"invoke {execution.function}"
        self._end(name, own, parent, attributes, status, started_ns, ended_ns, SpanKind.SERVER)

    def close(self) -> None:
        """Export what is pending, then stop."""
        self._processor.shutdown()

    def _end(
        self,
        name: str,
        trace: TraceContext,
        parent: SpanContext | None,
        attributes: dict[str, Any],
        status: Status,
        started_ns: int,
        ended_ns: int | None = None,
        kind: SpanKind = SpanKind.CLIENT,
    ) -> None:
        span = ReadableSpan(
            name=name,
            context=_span_context(trace.trace_id, trace.span_id, trace.flags, remote=False),
            parent=parent,
            resource=self._resource,
            attributes=attributes,
            kind=kind,
            status=status,
            start_time=started_ns,
            end_time=ended_ns if ended_ns is not None else time.time_ns(),
            instrumentation_scope=SCOPE,
        )
        self._processor.on_end(span)


def _function(execution: Execution) -> dict[str, Any]:
    return {"fnproxy.provider": execution.provider, "fnproxy.function": execution.function}


def _span_context(trace_id: str, span_id: str, flags: str, *, remote: bool) -> SpanContext:
    return SpanContext(
        trace_id=int(trace_id, 16),
        span_id=int(span_id, 16),
        is_remote=remote,
        trace_flags=TraceFlags(int(flags, 16)),
    )
