"""The composition root: builds the store, secrets, events, queue, blobs, metrics and providers
that the settings choose, and the services on top of them. Backend and provider modules are imported
here only, lazily, so an entry point never loads another cloud's SDK."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.auth.api_keys import ApiKeyService
from core.auth.audit import AuditLog
from core.auth.clients import ClientService
from core.auth.keys import KeyRing
from core.auth.service import AuthService
from core.auth.throttle import TokenThrottle
from core.auth.tokens import Tokens
from core.blobs.base import BlobStore
from core.blobs.links import BlobLinks
from core.config import ConfigError, Settings, load_settings
from core.egress import EgressPolicy
from core.events.base import EventBus, WorkQueue
from core.health import HealthChecks
from core.history.service import HistoryService
from core.invoke.archive import Archive, ArchiveLimits
from core.invoke.batch import BatchService
from core.invoke.breaker import CircuitBreakers
from core.invoke.callbacks import CallbackSender, CallbackTasks
from core.invoke.limits import TargetLimits
from core.invoke.recorder import Recorder
from core.invoke.retry import RetryPolicy
from core.invoke.runner import RunLimits, Runner
from core.invoke.service import InvocationService, ServiceLimits
from core.invoke.settle import Settler
from core.invoke.worker import AsyncWorker
from core.memory import return_large_buffers
from core.metrics.base import BoundedMetrics, Metrics
from core.providers.base import Provider
from core.providers.registry import ProviderRegistry
from core.registry.ratelimit import RateLimiter
from core.registry.service import RegistryService
from core.sealing import Sealer
from core.secrets.base import SecretSource
from core.sessions.service import SessionService
from core.store.base import Store

if TYPE_CHECKING:
    from core.otel import OtelSpans

SIGNING_KEY_SECRET = "MODULE_SECRET_KEY"


def _load(path: str) -> Any:
    module_name, _, attribute = path.rpartition(".")
    return getattr(importlib.import_module(module_name), attribute)


def _endpoint(settings: Settings) -> str | None:
    """The AWS emulator's endpoint (AWS_ENDPOINT_URL), or None for the real AWS."""
    return settings.aws_endpoint_url or None


def _required(value: str, variable: str, backend: str) -> str:
    if not value:
        raise ConfigError(f"{variable}: required by the {backend} backend")
    return value


def build_store(settings: Settings) -> Store:
    backend = settings.backend_for("store")
    if backend == "sqlite":
        return _load("core.store.sqlite.SqliteStore")(
            settings.sqlite_file, busy_timeout_s=settings.store_busy_timeout_s
        )
    if backend == "dynamodb":
        return _load("core.store.dynamodb.DynamoDBStore")(
            _required(settings.dynamodb_table, "FNPROXY_TABLE", backend),
            settings.aws_region,
            _endpoint(settings),
            pool_size=settings.max_batch_size,
            retention_days=settings.history_retention_days,
        )
    if backend == "firestore":
        return _load("core.store.firestore.FirestoreStore")(
            _required(settings.gcp_project_id, "GCP_PROJECT_ID", backend),
            database=settings.firestore_database,
            prefix=settings.firestore_prefix,
            retention_days=settings.history_retention_days,
        )
    raise ConfigError(f"STORE_BACKEND: {backend!r} is not available in this build")


def build_secrets(settings: Settings, environ: Mapping[str, str] | None = None) -> SecretSource:
    """The secret source; `environ` (default: the process environment) holds the secret
    references (`NAME_SECRET` / `NAME_SECRET_ARN`) the aws and gcp sources follow."""
    backend = settings.backend_for("secrets")
    environ = os.environ if environ is None else environ
    if backend == "env":
        return _load("core.secrets.env.EnvSecretSource")(_settings_secrets(settings))
    if backend == "aws":
        return _load("core.secrets.aws_secrets_manager.AwsSecretsManagerSource")(
            settings.aws_region,
            _endpoint(settings),
            cache_ttl_s=settings.secrets_cache_ttl_s,
            environ=environ,
        )
    if backend == "gcp":
        return _load("core.secrets.gcp_secret_manager.GcpSecretManagerSource")(
            settings.gcp_project_id,  # only a short secret name needs it
            emulator_host=settings.secretmanager_emulator_host,
            cache_ttl_s=settings.secrets_cache_ttl_s,
            environ=environ,
        )
    raise ConfigError(f"SECRETS_BACKEND: {backend!r} is not available in this build")


def load_aws_settings(environ: Mapping[str, str] | None = None) -> tuple[Settings, SecretSource]:
    """Settings for a Lambda container, from `environ` (default: the process environment),
    and the secret source they chose. With the aws secrets backend, every setting reference
    (`NAME_SECRET=<secret id>` or `NAME_SECRET_ARN`) is resolved from Secrets Manager first;
    the source reads the module key itself (both stages, for rotation) and has the resolved
    secrets cached already."""
    return _load_cloud_settings(environ, "aws")


def load_gcp_settings(environ: Mapping[str, str] | None = None) -> tuple[Settings, SecretSource]:
    """Settings for a Cloud Function instance, as `load_aws_settings` does on AWS: with the
    gcp secrets backend, every setting reference (`NAME_SECRET=projects/P/secrets/S[#key]`)
    is resolved from Secret Manager first, and the source reads the module key itself (latest
    and previous enabled versions, for rotation)."""
    return _load_cloud_settings(environ, "gcp")


def _load_cloud_settings(
    environ: Mapping[str, str] | None, secrets_backend: str
) -> tuple[Settings, SecretSource]:
    """Settings from `environ` (default: the process environment, no `.env`), with the setting
    references resolved through the secret source when it is `secrets_backend`."""
    environ = dict(os.environ if environ is None else environ)
    settings = load_settings(environ, dotenv=None)
    secrets = build_secrets(settings, environ)
    if settings.backend_for("secrets") == secrets_backend:
        resolve = _load("core.secrets.references.resolve_setting_references")
        settings = load_settings(resolve(environ, secrets.read_current), dotenv=None)
    return settings, secrets


def _settings_secrets(settings: Settings) -> dict[str, str]:
    """The env source reads the module key from settings, where a locally generated key lives."""
    values = dict(os.environ)
    values[SIGNING_KEY_SECRET] = settings.module_secret_key
    values[f"{SIGNING_KEY_SECRET}_PREVIOUS"] = settings.module_secret_key_previous
    return values


def build_events(settings: Settings) -> EventBus:
    backend = settings.backend_for("events")
    if backend == "local":
        return _load("core.events.local.LocalEventBus")()
    if backend == "sns":
        return _load("core.events.sns.SnsEventBus")(
            _required(settings.events_topic_arn, "EVENTS_TOPIC_ARN", backend),
            settings.aws_region,
            _endpoint(settings),
            pool_size=settings.max_batch_size,
        )
    if backend == "pubsub":
        return _load("core.events.pubsub.PubSubEventBus")(
            _required(settings.events_topic, "EVENTS_TOPIC", backend),
            settings.gcp_project_id,  # only a short topic name needs it
        )
    raise ConfigError(f"EVENTS_BACKEND: {backend!r} is not available in this build")


def build_queue(settings: Settings, store: Store) -> WorkQueue:
    backend = settings.backend_for("queue")
    if backend == "local":  # the store is the queue; cut payloads wait in the data folder
        spool = _load("core.events.local.PayloadSpool")(
            settings.data_path / "queue", settings.max_stored_bytes
        )
        return _load("core.events.local.LocalWorkQueue")(
            store.executions,
            spool,
            per_function=settings.async_workers,
            sweep_s=settings.execution_lease_s,
            grace_s=settings.shutdown_grace_s,
        )
    if backend == "sqs":
        return _load("core.events.sqs.SqsWorkQueue")(
            _required(settings.async_queue_url, "ASYNC_QUEUE_URL", backend),
            settings.aws_region,
            _endpoint(settings),
            pool_size=settings.max_batch_size,
        )
    if backend == "pubsub":
        return _load("core.events.pubsub.PubSubWorkQueue")(
            _required(settings.async_topic, "ASYNC_TOPIC", backend),
            settings.gcp_project_id,  # only a short topic name needs it
        )
    raise ConfigError(f"QUEUE_BACKEND: {backend!r} is not available in this build")


def build_blobs(settings: Settings, links: BlobLinks) -> BlobStore | None:
    """Large payloads, results and logs; `links` signs the local backend's URLs. None on a
    cloud platform whose column was not overridden and that names no BLOBS_BUCKET (a
    deployment made before the port); an explicit BLOBS_BACKEND=s3|gcs needs the bucket."""
    backend = settings.backend_for("blobs")
    if backend != "local" and not settings.blobs_backend and not settings.blobs_bucket:
        if settings.blobs_retention_days:
            raise ConfigError(
                "BLOBS_RETENTION_DAYS: needs a blobs backend, and this deployment has none "
                "(set BLOBS_BUCKET, or BLOBS_RETENTION_DAYS=0)"
            )
        return None
    prefix = settings.blobs_prefix.lstrip("/")
    if backend == "local":
        return _load("core.blobs.local.LocalBlobs")(settings.data_path / "blobs", links)
    if backend == "s3":
        return _load("core.blobs.s3.S3Blobs")(
            _required(settings.blobs_bucket, "BLOBS_BUCKET", backend),
            prefix,
            settings.aws_region,
            _endpoint(settings),
            pool_size=settings.max_batch_size,
        )
    if backend == "gcs":
        return _load("core.blobs.gcs.GcsBlobs")(
            _required(settings.blobs_bucket, "BLOBS_BUCKET", backend),
            prefix,
            settings.gcp_project_id,
            service_account_key=settings.gcp_service_account_key,
            service_account_email=settings.gcp_service_account_email,
        )
    raise ConfigError(f"BLOBS_BACKEND: {backend!r} is not available in this build")


def build_metrics(settings: Settings) -> Metrics:
    """The metrics sink (`core.metrics.base`): Prometheus for GET /metrics, EMF on AWS, a
    structured log line on GCP."""
    backend = settings.backend_for("metrics")
    sinks = {
        "prometheus": "core.metrics.prometheus.PrometheusMetrics",
        "emf": "core.metrics.emf.EmfMetrics",
        "log": "core.metrics.cloud_logging.LogMetrics",
    }
    if backend not in sinks:
        raise ConfigError(f"METRICS_BACKEND: {backend!r} is not available in this build")
    return BoundedMetrics(_load(sinks[backend])())


def archive_limits(settings: Settings) -> ArchiveLimits:
    """The archive's limits; a BLOBS_RETENTION_DAYS that would let a record outlive the
    objects it refers to is refused."""
    retention, history = settings.blobs_retention_days, settings.history_retention_days
    if 0 < retention <= history:
        raise ConfigError(
            f"BLOBS_RETENTION_DAYS: must be 0 or longer than HISTORY_RETENTION_DAYS ({history}), "
            f"or records outlive their archived parts, got {retention}"
        )
    return ArchiveLimits(
        inline_bytes=settings.blobs_inline_bytes,
        max_stored_bytes=settings.max_stored_bytes,
        read_inline_bytes=settings.blobs_read_inline_bytes,
        url_ttl_s=settings.blobs_url_ttl_s,
        archive_all=retention > history,
    )


def build_sqs_delivery(services: Services) -> Any:
    """What hands SQS and SNS records to the async worker (`core.events.sqs.SqsDelivery`);
    messages that can never run go to the dead-letter queue ASYNC_DLQ_URL."""
    settings = services.settings
    dead_letters = _load("core.events.sqs.SqsQueue")(
        _required(settings.async_dlq_url, "ASYNC_DLQ_URL", "sqs"),
        settings.aws_region,
        _endpoint(settings),
        pool_size=settings.max_batch_size,
    )
    return _load("core.events.sqs.SqsDelivery")(
        services.worker, dead_letters, settings.async_max_receive_count
    )


PUBSUB_MIN_DELIVERY_ATTEMPTS = 5
"""The least `maxDeliveryAttempts` a Pub/Sub dead-letter policy takes."""


def build_pubsub_delivery(services: Services) -> Any:
    """What hands the Pub/Sub CloudEvents of the async topic's push subscription to the async
    worker (`core.events.pubsub.PubSubDelivery`); ASYNC_MAX_RECEIVE_COUNT is the subscription's
    dead-letter policy's max delivery attempts."""
    settings = services.settings
    if settings.async_max_receive_count < PUBSUB_MIN_DELIVERY_ATTEMPTS:
        raise ConfigError(
            f"ASYNC_MAX_RECEIVE_COUNT: Pub/Sub dead-letters after {PUBSUB_MIN_DELIVERY_ATTEMPTS} "
            f"to 100 delivery attempts, got {settings.async_max_receive_count}"
        )
    return _load("core.events.pubsub.PubSubDelivery")(
        services.worker,
        settings.async_max_receive_count,
        settings.async_dead_letter_topic or None,
        project=settings.gcp_project_id,
    )


def provider_factories(settings: Settings) -> dict[str, Callable[[], Provider]]:
    egress = EgressPolicy.from_settings(settings)  # a bad EGRESS_ALLOW stops start-up

    def http_provider() -> Provider:
        """Caller-chosen URLs (http targets, gcp_functions URLs, callbacks) pass `egress`."""
        return _load("core.providers.http.HttpProvider")(
            pool_size=max(settings.http_pool_size, settings.max_batch_size),
            egress=egress,
            max_response_bytes=settings.max_response_bytes,
        )

    factories = {
        "aws_lambda": lambda: _load("core.providers.aws_lambda.AwsLambdaProvider")(
            default_region=settings.aws_region,
            pool_size=max(settings.http_pool_size, settings.max_batch_size),
            endpoint_url=_endpoint(settings),
        ),
        "gcp_functions": lambda: _load("core.providers.gcp_functions.GcpFunctionsProvider")(
            settings.gcp_project_id,
            settings.gcp_region,
            max(settings.http_pool_size, settings.max_batch_size),
            api_url=settings.gcp_functions_api_url,
            id_tokens=settings.gcp_id_tokens,
            service_account_key=settings.gcp_service_account_key,
            service_account_email=settings.gcp_service_account_email,
            id_token_hosts=settings.gcp_id_token_audiences,
            http=http_provider(),
        ),
        "http": http_provider,
        "local": lambda: _load("core.providers.local.LocalProvider")(
            functions_dir=Path(settings.local_functions_dir),
            workers=settings.local_workers,
            memory_mb=settings.local_memory_mb,
            function_env=settings.local_function_env,
            private_paths=(settings.data_path, settings.sqlite_file, Path(".env")),
        ),
    }
    if settings.openwhisk_api_host:  # else: "provider 'openwhisk' is not enabled"
        factories["openwhisk"] = lambda: _load("core.providers.openwhisk.OpenWhiskProvider")(
            settings.openwhisk_api_host,
            settings.openwhisk_namespace,
            settings.openwhisk_auth_key,
            max(settings.http_pool_size, settings.max_batch_size),
            insecure=settings.openwhisk_insecure,
            max_response_bytes=settings.max_response_bytes,
        )
    return factories


@dataclass
class Services:
    settings: Settings
    store: Store
    secrets: SecretSource
    events: EventBus
    queue: WorkQueue
    blobs: BlobStore | None
    """None when the deployment has no bucket for them (see `build_blobs`)."""
    blob_links: BlobLinks
    """Makes and checks fnproxy's own blob links (GET /v1/blobs/{token})."""
    archive: Archive
    """Keeps large payloads, results and logs in `blobs` and shows them to readers."""
    providers: ProviderRegistry
    auth: AuthService
    clients: ClientService
    api_keys: ApiKeyService
    """Functions' API keys (the Invoke platform front's `X-API-Key`)."""
    audit: AuditLog
    sessions: SessionService
    history: HistoryService
    invocations: InvocationService
    batches: BatchService
    worker: AsyncWorker
    registry: RegistryService
    health: HealthChecks
    circuits: CircuitBreakers
    """Every target's circuit breaker (shown by /health to a read token)."""
    target_limits: TargetLimits
    """The per-target concurrency cap every call to a function passes."""
    metrics: Metrics
    """Where outcomes, retries, circuit changes, the queue depth and store errors are told."""
    spans: OtelSpans | None = None
    """The OpenTelemetry span exporter, when OTEL_EXPORTER_OTLP_ENDPOINT is set."""

    async def close(self) -> None:
        await self.queue.close()
        if self.spans is not None:
            self.spans.close()
        if self.blobs is not None:
            await self.blobs.close()
        await self.providers.close()
        await self.events.close()
        await self.store.close()
        close_secrets = getattr(self.secrets, "close", None)  # only sources with a pool have one
        if close_secrets is not None:
            await close_secrets()


def build_spans(settings: Settings) -> OtelSpans | None:
    """The OpenTelemetry span exporter when OTEL_EXPORTER_OTLP_ENDPOINT is set; the SDK is
    imported only then."""
    if not settings.otel_exporter_otlp_endpoint:
        return None
    try:
        from core.otel import OtelSpans

        return OtelSpans.exporting_to(settings.otel_exporter_otlp_endpoint)
    except ImportError as missing:
        raise ConfigError(
            f"OTEL_EXPORTER_OTLP_ENDPOINT is set but {missing.name} is not installed: "
            "install fnproxy[otel]"
        ) from None


def build_services(settings: Settings, *, secrets: SecretSource | None = None) -> Services:
    """The services over the backends `settings` choose. `secrets` is a source built already
    (see `load_aws_settings`, `load_gcp_settings`)."""
    return_large_buffers()  # answers of up to MAX_RESPONSE_BYTES pass through this process
    store = build_store(settings)
    if secrets is None:
        secrets = build_secrets(settings)
    events = build_events(settings)
    metrics = build_metrics(settings)
    queue = build_queue(settings, store)
    depth = getattr(queue, "depth", None)  # only the local queue: SQS and Pub/Sub tell theirs
    if depth is not None:
        metrics.watch_queue(depth)
    keyring = KeyRing(secrets, SIGNING_KEY_SECRET, cache_ttl_s=settings.secrets_cache_ttl_s)
    blob_links = BlobLinks(keyring)
    blobs = build_blobs(settings, blob_links)
    providers = ProviderRegistry(provider_factories(settings))
    retry = RetryPolicy(settings.max_retries, settings.retry_delay, settings.retry_max_delay)
    recorder = Recorder(store, events, settings.stats_bucket_s, metrics)
    archive = Archive(blobs, archive_limits(settings))
    spans = build_spans(settings)
    settler = Settler(store.executions, providers, recorder, archive, spans=spans)
    sessions = SessionService(store.sessions, settings.session_ttl_s)
    circuits = CircuitBreakers(
        settings.circuit_failure_threshold, settings.circuit_cooldown_s, metrics=metrics
    )
    target_limits = TargetLimits(settings.target_max_concurrency)
    runner = Runner(
        recorder,
        sessions,
        RunLimits(retry),
        archive,
        breakers=circuits,
        targets=target_limits,
        metrics=metrics,
        spans=spans,
    )
    invocations = InvocationService(
        store=store,
        providers=providers,
        runner=runner,
        recorder=recorder,
        queue=queue,
        sealer=Sealer(keyring),
        limits=ServiceLimits(
            default_timeout_s=settings.function_timeout,
            idempotency_ttl_s=settings.idempotency_ttl_s,
            retention_s=settings.history_retention_days * 86400,
            max_concurrent_requests=settings.max_concurrent_requests,
            claim_margin_s=settings.execution_lease_s,
        ),
        archive=archive,
    )
    registry = RegistryService(
        store.functions,
        providers,
        invocations,
        RateLimiter(store.rate_limits),
        events,
        archive=archive,
    )
    clients = ClientService(store.clients, sealer=Sealer(keyring))
    tokens = Tokens(keyring, issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    throttle = TokenThrottle(
        store.rate_limits, settings.auth_max_failures, settings.auth_failure_window_s
    )
    return Services(
        settings=settings,
        store=store,
        secrets=secrets,
        events=events,
        queue=queue,
        blobs=blobs,
        blob_links=blob_links,
        archive=archive,
        providers=providers,
        auth=AuthService(tokens, keyring, clients, throttle, settings),
        clients=clients,
        api_keys=ApiKeyService(store.api_keys, throttle),
        audit=AuditLog(),
        sessions=sessions,
        history=HistoryService(
            store.executions, store.stats, settings.stats_bucket_s, settler=settler
        ),
        invocations=invocations,
        batches=BatchService(invocations, settings.max_batch_size),
        worker=AsyncWorker(
            store.executions,
            invocations,
            recorder,
            CallbackSender(providers, retry, archive),
            archive,
            retention_s=settings.history_retention_days * 86400,
            settler=settler,
            lease_s=settings.execution_lease_s,
            callback_tasks=CallbackTasks() if settings.backend_for("queue") == "local" else None,
        ),
        registry=registry,
        health=HealthChecks(
            {
                "store": store.ping,
                "secrets": secrets.ping,
                "events": events.ping,
                "queue": queue.ping,
            }
            | ({"blobs": blobs.ping} if blobs is not None else {}),
            settings.health_cache_s,
        ),
        circuits=circuits,
        target_limits=target_limits,
        metrics=metrics,
        spans=spans,
    )
