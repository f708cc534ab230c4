"""The AWS Lambda entry point: `handler(event, context)`.

- API Gateway events, REST (v1) and HTTP API (v2), and the function URL's requests (payload
  format 2.0 as HTTP API's: rawPath, rawQueryString, cookies, a base64 body) go to the app
  through Mangum, which first takes API_GATEWAY_BASE_PATH (an HTTP API's named stage, a custom
  domain's mapping key) off the path;
- SQS records (the async work queue) go to the worker, with partial batch failure reporting:
  the answer is `{"batchItemFailures": [...]}`, so SQS redelivers only the failed records; a
  batch whose every record failed raises instead, so the invocation counts in Lambda's Errors
  metric (the worker-errors alarm) and SQS redelivers them all;
- SNS records (a worker subscribed to the topic directly) go to the same worker; a failure
  raises, so Lambda retries the event and then hands it to the function's failure destination;
- a failing SQS or SNS record is logged at ERROR with its message id and the exception;
- anything else is refused with a clear error.

The services are built once per container, on the first call (secret references resolved,
then the backends), and one asyncio event loop serves every invocation of the container: Mangum
and the batch processor both run on it, so the connection pools and executors bound to it are
reused.

Logs: powertools' JSON Logger named `fnproxy`, which fnproxy's own loggers (`fnproxy.*`, the
audit log `fnproxy.audit`) reach by propagation; the request id of API Gateway (or of the
function URL) is the correlation id, and each line carries the Lambda request id
(`function_request_id`). Metrics: EMF, one record per observation of the metrics port
(`core.metrics.emf`), plus the cold-start metric flushed at the end of each invocation.
Tracing (the X-Ray SDK, through powertools' Tracer) is imported only when FNPROXY_TRACING is
true.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from mangum import Mangum

from core.api.app import create_app
from core.errors import InvalidRequest
from core.redaction import redact_urls_in
from core.wiring import Services, build_services, build_sqs_delivery, load_aws_settings

SERVICE = "fnproxy"
SQS_SOURCE = "aws:sqs"
SNS_SOURCE = "aws:sns"


class RedactingFormatter(LambdaPowertoolsFormatter):
    """powertools' JSON lines, every URL in an exception's text and trace redacted
    (`core.redaction`): a library's error can quote a signed URL or a URL's credentials. The
    trace is the `exception` text alone: powertools' structured `stack_trace` would repeat the
    error's text unredacted."""

    def __init__(self) -> None:
        super().__init__(serialize_stacktrace=False)

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging.Formatter's name
        return redact_urls_in(super().formatException(ei))


logger = Logger(service=SERVICE, logger_formatter=RedactingFormatter())
metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", SERVICE), service=SERVICE
)
# Every observation's metrics are per data point (core.metrics.emf); the shared set is empty.
warnings.filterwarnings("ignore", message="No application metrics to publish")

LambdaEntry = Callable[[dict[str, Any], Any], Any]


@dataclass
class Container:
    """What one Lambda container keeps between invocations."""

    loop: asyncio.AbstractEventLoop
    services: Services
    entry: LambdaEntry


_container: Container | None = None


def handler(event: dict[str, Any], context: Any) -> Any:
    """The Lambda function's handler (see the module docstring)."""
    container = _container or _start_container()
    asyncio.set_event_loop(container.loop)  # Mangum runs the app on the current loop
    return container.entry(event, context)


def _start_container() -> Container:
    global _container
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        settings, secrets = load_aws_settings()
        logger.setLevel(settings.log_level)
        tracer = _tracer() if settings.tracing else None
        services = build_services(settings, secrets=secrets)
        entry = _instrumented(Dispatcher(loop, services), tracer)
    except BaseException:
        loop.close()
        raise
    _container = Container(loop, services, entry)
    return _container


def _tracer() -> Any:
    """powertools' Tracer: imported (and with it the X-Ray SDK) only when tracing is on. It
    patches botocore's client class, so every AWS call, made by any client, is traced."""
    from aws_lambda_powertools import Tracer

    return Tracer(service=SERVICE)


def _instrumented(dispatch: LambdaEntry, tracer: Any) -> LambdaEntry:
    """The dispatcher in logging context (the API Gateway request id as correlation id),
    flushing powertools' metrics (and the cold-start metric) at the end of each invocation,
    traced when there is a tracer."""
    entry = metrics.log_metrics(dispatch, capture_cold_start_metric=True)
    entry = logger.inject_lambda_context(
        entry, correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True
    )
    return tracer.capture_lambda_handler(entry) if tracer is not None else entry


class Dispatcher:
    """Sends each event where it belongs (see the module docstring), on the container's loop.
    The worker side (the SQS delivery, powertools' batch utility) is built on its first event:
    an API-only function never pays for it."""

    def __init__(self, loop: asyncio.AbstractEventLoop, services: Services) -> None:
        self._loop = loop
        self._services = services
        self._http = Mangum(
            create_app(services),
            lifespan="off",
            api_gateway_base_path=services.settings.api_gateway_base_path,
        )

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        kind = event_kind(event)
        if kind == "http":
            return self._http(event, context)
        if kind == SQS_SOURCE:
            return self._sqs_batch(event, context)
        return self._loop.run_until_complete(self._sns_records(event))

    @functools.cached_property
    def _delivery(self) -> Any:
        return build_sqs_delivery(self._services)

    @functools.cached_property
    def _batch_processor(self) -> Any:
        return loop_batch_processor(self._loop)

    def _sqs_batch(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        """Each record to the worker, concurrently; `{"batchItemFailures": [...]}` names the
        records that raised, which SQS delivers again (then to its dead-letter queue)."""
        from aws_lambda_powertools.utilities.batch import async_process_partial_response

        handle_record = self._delivery.handle_record

        async def record_handler(record: Any) -> None:
            with failure_logged(SQS_SOURCE, record.message_id):
                await handle_record(record.raw_event)

        return async_process_partial_response(
            event=event,
            record_handler=record_handler,
            processor=self._batch_processor,
            context=context,
        )

    async def _sns_records(self, event: dict[str, Any]) -> None:
        for record in event["Records"]:
            with failure_logged(SNS_SOURCE, record["Sns"]["MessageId"]):
                await self._delivery.handle_sns_record(record)


@contextlib.contextmanager
def failure_logged(event_source: str, message_id: str) -> Iterator[None]:
    """A record's failure logged at ERROR, with its message id and the exception, then raised
    on (its redelivery is the queue's or Lambda's)."""
    try:
        yield
    except Exception:
        logger.exception(
            "the worker failed on %s message %s", event_source, message_id, message_id=message_id
        )
        raise


def event_kind(event: Any) -> str:
    """`http` (API Gateway v1 or v2, or a function URL), `aws:sqs` or `aws:sns`; InvalidRequest
    for the rest."""
    if isinstance(event, dict):
        if "requestContext" in event and ("httpMethod" in event or event.get("version") == "2.0"):
            return "http"
        records = event.get("Records")
        if isinstance(records, list) and records and isinstance(records[0], dict):
            source = records[0].get("eventSource") or records[0].get("EventSource")
            if source in (SQS_SOURCE, SNS_SOURCE):
                return source
    raise InvalidRequest(
        "fnproxy's Lambda handler takes API Gateway (REST v1, HTTP API v2), function URL, SQS or "
        "SNS events; "
        f"this event has keys {sorted(event) if isinstance(event, dict) else type(event).__name__}"
    )


def loop_batch_processor(loop: asyncio.AbstractEventLoop) -> Any:
    """powertools' AsyncBatchProcessor for SQS that processes a batch on `loop`, the
    container's (outside Lambda, powertools would `asyncio.run` a loop of its own, which the
    services bound to the container's loop cannot use). A batch whose every record failed
    raises powertools' BatchProcessingError: the function's error, which Lambda counts."""
    from aws_lambda_powertools.utilities.batch import AsyncBatchProcessor, EventType

    class LoopBatchProcessor(AsyncBatchProcessor):
        def async_process(self) -> list[tuple]:
            processing = [self._async_process_record(record) for record in self.records]
            return list(loop.run_until_complete(asyncio.gather(*processing)))

    return LoopBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=True)
