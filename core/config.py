"""Settings from the environment and an optional `.env` file.

The variable names of the seed modules are kept (`MODULE_SECRET_KEY`, `FUNCTION_TIMEOUT`,
`MAX_BATCH_SIZE`, `MAX_RETRIES`, `RETRY_DELAY`, `LOG_LEVEL`, `REST_PORT`, ...). A bad value stops
start-up with a `ConfigError` whose message is one line naming the variable.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

MIN_SECRET_KEY_LENGTH = 64
PLATFORMS = ("local", "aws", "gcp")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MAX_LAMBDA_TIMEOUT_S = 900.0
"""Lambda's own longest run (15 minutes)."""


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _number(kind: type, low: float, low_allowed: bool) -> Callable[[str, str], Any]:
    """A parser of `kind` (int or float) values above `low` (or equal to it when allowed)."""
    noun = "a whole number" if kind is int else "a number"
    rule = f"must not be below {low:g}" if low_allowed else f"must be greater than {low:g}"

    def parse(name: str, raw: str) -> Any:
        try:
            value = kind(raw)
        except ValueError:
            raise ConfigError(f"{name}: expected {noun}, got {raw!r}") from None
        if value < low or (value == low and not low_allowed):
            raise ConfigError(f"{name}: {rule}, got {raw!r}")
        return value

    return parse


_positive_float = _number(float, 0, low_allowed=False)
_non_negative_float = _number(float, 0, low_allowed=True)
_positive_int = _number(int, 0, low_allowed=False)
_non_negative_int = _number(int, 0, low_allowed=True)


def _port(name: str, raw: str) -> int:
    value = _positive_int(name, raw)
    if value > 65535:
        raise ConfigError(f"{name}: must be a TCP port (1-65535), got {raw!r}")
    return value


def _boolean(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}: expected true or false, got {raw!r}")


def _one_of(*choices: str) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        value = raw.strip()
        if value.upper() in choices:
            return value.upper()
        if value.lower() in choices:
            return value.lower()
        raise ConfigError(f"{name}: expected one of {', '.join(choices)}, got {raw!r}")

    return parse


def _text(name: str, raw: str) -> str:
    return raw.strip()


def _names(name: str, raw: str) -> tuple[str, ...]:
    """A list separated by commas or white space (CIDRs, host globs, variable names)."""
    return tuple(part for part in raw.replace(",", " ").split() if part)


_PATH_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+")


def _base_path(name: str, raw: str) -> str:
    """`/a/b` from `a/b`, `/a/b/` or `/a/b` (each segment of URL-safe characters); `/` is
    no base path."""
    path = raw.strip().strip("/")
    if not path:
        return ""
    segments = path.split("/")
    if not all(_PATH_SEGMENT.fullmatch(segment) for segment in segments):
        raise ConfigError(
            f"{name}: expected path segments of letters, digits and . _ ~ - (e.g. dev or "
            f"v2/fnproxy), got {raw!r}"
        )
    return "/" + "/".join(segments)


def _lambda_timeout(name: str, raw: str) -> float:
    value = _positive_float(name, raw)
    if value > MAX_LAMBDA_TIMEOUT_S:
        raise ConfigError(f"{name}: at most {MAX_LAMBDA_TIMEOUT_S:g} (Lambda's own), got {raw!r}")
    return value


def _secret_key(name: str, raw: str) -> str:
    if len(raw) < MIN_SECRET_KEY_LENGTH:
        raise ConfigError(
            f"{name}: must be at least {MIN_SECRET_KEY_LENGTH} characters, got {len(raw)}"
        )
    return raw


def _setting(env: str, parse: Callable[[str, str], Any], default: Any, secret: bool = False) -> Any:
    """A settings field read from `env`; a secret one is left out of the settings' repr."""
    return field(default=default, metadata={"env": env, "parse": parse}, repr=not secret)


@dataclass(frozen=True)
class Settings:
    platform: str = _setting("FNPROXY_PLATFORM", _one_of(*PLATFORMS), "local")
    data_dir: str = _setting("FNPROXY_DATA_DIR", _text, ".fnproxy")
    # Each port may be switched alone; empty means "the platform's column".
    store_backend: str = _setting(
        "STORE_BACKEND", _one_of("", "sqlite", "dynamodb", "firestore"), ""
    )
    secrets_backend: str = _setting("SECRETS_BACKEND", _one_of("", "env", "aws", "gcp"), "")
    events_backend: str = _setting("EVENTS_BACKEND", _one_of("", "local", "sns", "pubsub"), "")
    queue_backend: str = _setting("QUEUE_BACKEND", _one_of("", "local", "sqs", "pubsub"), "")
    blobs_backend: str = _setting("BLOBS_BACKEND", _one_of("", "local", "s3", "gcs"), "")
    metrics_backend: str = _setting("METRICS_BACKEND", _one_of("", "prometheus", "emf", "log"), "")
    sqlite_path: str = _setting("SQLITE_PATH", _text, "")

    module_secret_key: str = _setting("MODULE_SECRET_KEY", _secret_key, "", secret=True)
    module_secret_key_previous: str = _setting(
        "MODULE_SECRET_KEY_PREVIOUS", _secret_key, "", secret=True
    )
    jwt_issuer: str = _setting("JWT_ISSUER", _text, "fnproxy")
    jwt_audience: str = _setting("JWT_AUDIENCE", _text, "fnproxy")
    token_ttl_s: int = _setting("TOKEN_TTL_S", _positive_int, 3600)

    function_timeout: float = _setting("FUNCTION_TIMEOUT", _positive_float, 60.0)
    max_batch_size: int = _setting("MAX_BATCH_SIZE", _positive_int, 100)
    max_retries: int = _setting("MAX_RETRIES", _non_negative_int, 3)
    retry_delay: float = _setting("RETRY_DELAY", _non_negative_float, 1.0)
    retry_max_delay: float = _setting("RETRY_MAX_DELAY", _non_negative_float, 20.0)
    max_request_bytes: int = _setting("MAX_REQUEST_BYTES", _positive_int, 6 * 1024 * 1024)
    max_stored_bytes: int = _setting("MAX_STORED_BYTES", _positive_int, 256 * 1024)
    max_response_bytes: int = _setting("MAX_RESPONSE_BYTES", _positive_int, 6 * 1024 * 1024)
    """A target's answer is read up to this size (Lambda's own limit); past it, 502."""
    http_pool_size: int = _setting("HTTP_POOL_SIZE", _positive_int, 256)
    async_workers: int = _setting("ASYNC_WORKERS", _positive_int, 8)
    execution_lease_s: float = _setting("EXECUTION_LEASE_S", _positive_float, 30.0)
    """How long a runner's claim on an execution lasts unless renewed (it renews at a third)."""
    shutdown_grace_s: float = _setting("SHUTDOWN_GRACE_S", _non_negative_float, 10.0)
    """On a graceful stop, how long running executions may take to finish; the rest stays
    queued for the next start."""
    circuit_failure_threshold: int = _setting("CIRCUIT_FAILURE_THRESHOLD", _positive_int, 5)
    """Consecutive transient failures of one target that open its circuit."""
    circuit_cooldown_s: float = _setting("CIRCUIT_COOLDOWN_S", _positive_float, 30.0)
    """How long an open circuit fails fast before one half-open probe is let through."""
    target_max_concurrency: int = _setting("TARGET_MAX_CONCURRENCY", _positive_int, 128)
    """Calls in flight to one target (function key) at most; more wait their turn. Above the
    default MAX_BATCH_SIZE, so that a batch to one function runs at the concurrency it asks
    for (at 64, a batch at concurrency 100 ran 64 at a time: 365 ms instead of 267 for 1000
    items of 20 ms); a hanging target still holds at most 128 of MAX_CONCURRENT_REQUESTS."""
    max_concurrent_requests: int = _setting("MAX_CONCURRENT_REQUESTS", _positive_int, 1000)
    """Seed name: invocations in flight on one instance at most (every HTTP entry: sync, async
    acceptance, batch items, the compat routes); past it, 429 too_many_requests at once."""
    store_busy_timeout_s: float = _setting("STORE_BUSY_TIMEOUT_S", _positive_float, 2.0)
    """How long a store write may wait for a lock before the request answers 503."""

    local_functions_dir: str = _setting("LOCAL_FUNCTIONS_DIR", _text, "functions")
    local_workers: int = _setting("LOCAL_WORKERS", _positive_int, 2)
    local_memory_mb: int = _setting("LOCAL_MEMORY_MB", _positive_int, 512)
    local_function_env: tuple[str, ...] = _setting("LOCAL_FUNCTION_ENV", _names, ())
    """Names of server variables a local function may see, besides PATH, HOME, LANG, TZ and
    PYTHON*."""

    egress_allow: tuple[str, ...] = _setting("EGRESS_ALLOW", _names, ())
    """CIDRs and host globs a caller-chosen URL may reach although the egress policy would
    refuse them (private, loopback, link-local or metadata destinations); docs/security.md."""
    auth_max_failures: int = _setting("AUTH_MAX_FAILURES", _positive_int, 10)
    """Failed token requests allowed per client id and per source address in a window."""
    auth_failure_window_s: int = _setting("AUTH_FAILURE_WINDOW_S", _positive_int, 300)
    health_cache_s: float = _setting("HEALTH_CACHE_S", _non_negative_float, 5.0)
    """How long /health reuses the result of its backend pings."""

    session_ttl_s: int = _setting("SESSION_TTL_S", _positive_int, 24 * 3600)
    idempotency_ttl_s: int = _setting("IDEMPOTENCY_TTL_S", _positive_int, 24 * 3600)
    history_retention_days: int = _setting("HISTORY_RETENTION_DAYS", _positive_int, 30)
    stats_bucket_s: int = _setting("STATS_BUCKET_S", _positive_int, 3600)

    aws_region: str = _setting("AWS_REGION", _text, "us-east-1")
    aws_endpoint_url: str = _setting("AWS_ENDPOINT_URL", _text, "")
    """Points every AWS client at an emulator (moto) when set."""
    lambda_function_prefix: str = _setting("LAMBDA_FUNCTION_PREFIX", _text, "")
    """Seed name: put before a bare function name on the /lambda routes (not before an ARN or
    a name that starts with it already). Empty by default; the seed's default was waddlebot-."""
    lambda_timeout: float = _setting("LAMBDA_TIMEOUT", _lambda_timeout, 300.0)
    """Seed name: the /lambda routes' invocation timeout, seconds (at most 900)."""
    dynamodb_table: str = _setting("FNPROXY_TABLE", _text, "fnproxy")
    events_topic_arn: str = _setting("EVENTS_TOPIC_ARN", _text, "")
    async_queue_url: str = _setting("ASYNC_QUEUE_URL", _text, "")
    async_dlq_url: str = _setting("ASYNC_DLQ_URL", _text, "")
    async_max_receive_count: int = _setting("ASYNC_MAX_RECEIVE_COUNT", _positive_int, 3)
    secrets_cache_ttl_s: int = _setting("SECRETS_CACHE_TTL_S", _non_negative_int, 300)
    tracing: bool = _setting("FNPROXY_TRACING", _boolean, False)
    otel_exporter_otlp_endpoint: str = _setting("OTEL_EXPORTER_OTLP_ENDPOINT", _text, "")
    """OpenTelemetry's own name: when set, invocation and attempt spans go over OTLP/HTTP to
    `{endpoint}/v1/traces` (`core.otel`, the `otel` extra); unset, the SDK is never imported."""
    api_gateway_base_path: str = _setting("API_GATEWAY_BASE_PATH", _base_path, "")
    """What API Gateway puts before fnproxy's routes in the paths it passes on, taken off
    before routing: an HTTP API's named stage (`dev`: rawPath /dev/v1/invoke) or a custom
    domain's API mapping key. Empty for the $default stage and function URLs."""

    gcp_project_id: str = _setting("GCP_PROJECT_ID", _text, "")
    gcp_region: str = _setting("GCP_REGION", _text, "us-central1")
    gcp_service_account_key: str = _setting("GCP_SERVICE_ACCOUNT_KEY", _text, "", secret=True)
    """Seed name: a key file's path or its JSON: fnproxy's Google identity for the Cloud
    Functions admin API and ID tokens (else the application default credentials)."""
    gcp_service_account_email: str = _setting("GCP_SERVICE_ACCOUNT_EMAIL", _text, "")
    """Seed name: impersonate this service account (admin API and ID tokens) when set."""
    gcp_functions_api_url: str = _setting(
        "GCP_FUNCTIONS_API_URL", _text, "https://cloudfunctions.googleapis.com/v2"
    )
    gcp_id_tokens: bool = _setting("GCP_ID_TOKENS", _boolean, True)
    gcp_id_token_audiences: tuple[str, ...] = _setting("GCP_ID_TOKEN_AUDIENCES", _names, ())
    """Host globs, besides Cloud Functions and Cloud Run hosts, that get a Google ID token."""
    """Send a Google-signed ID token to Cloud Functions (off only for local emulation)."""
    firestore_database: str = _setting("FIRESTORE_DATABASE", _text, "(default)")
    firestore_prefix: str = _setting("FIRESTORE_COLLECTION_PREFIX", _text, "fnproxy")
    events_topic: str = _setting("EVENTS_TOPIC", _text, "")
    """Pub/Sub topic (projects/P/topics/T or T) receiving one CloudEvent per outcome."""
    async_topic: str = _setting("ASYNC_TOPIC", _text, "")
    """Pub/Sub topic feeding the async worker function."""
    async_dead_letter_topic: str = _setting("ASYNC_DEAD_LETTER_TOPIC", _text, "")
    """Pub/Sub topic receiving a copy of every malformed async message."""
    secretmanager_emulator_host: str = _setting("SECRETMANAGER_EMULATOR_HOST", _text, "")

    blobs_bucket: str = _setting("BLOBS_BUCKET", _text, "")
    """The S3 or Cloud Storage bucket of large payloads, results and logs (private)."""
    blobs_prefix: str = _setting("BLOBS_PREFIX", _base_path, "/fnproxy")
    """Where fnproxy's objects live in the bucket (or under FNPROXY_DATA_DIR/blobs locally)."""
    blobs_inline_bytes: int = _setting("BLOBS_INLINE_BYTES", _positive_int, 64 * 1024)
    """A payload, result or log larger than this (encoded) goes to blobs, not the record:
    three at most this size keep a record well within DynamoDB's 400 KB item."""
    blobs_read_inline_bytes: int = _setting("BLOBS_READ_INLINE_BYTES", _positive_int, 1024 * 1024)
    """An archived part up to this size is read back inline; a larger one as a signed URL."""
    blobs_url_ttl_s: int = _setting("BLOBS_URL_TTL_S", _positive_int, 300)
    """How long a signed URL handed to a reader works."""
    blobs_retention_days: int = _setting("BLOBS_RETENTION_DAYS", _non_negative_int, 0)
    """How long the archive keeps its objects (the bucket's lifecycle rule). Above
    HISTORY_RETENTION_DAYS every payload, result and log is archived, so an execution's content
    outlives its record; 0: only the parts above BLOBS_INLINE_BYTES are. Needs a blobs backend."""

    openwhisk_api_host: str = _setting("OPENWHISK_API_HOST", _text, "")
    openwhisk_namespace: str = _setting("OPENWHISK_NAMESPACE", _text, "_")
    openwhisk_auth_key: str = _setting("OPENWHISK_AUTH_KEY", _text, "", secret=True)
    """Seed name: `uuid:key` Basic credentials (put it in a secret: OPENWHISK_AUTH_KEY_SECRET)."""
    openwhisk_insecure: bool = _setting("OPENWHISK_INSECURE", _boolean, False)
    """Accept a self-signed TLS certificate from the OpenWhisk API host."""

    log_level: str = _setting("LOG_LEVEL", _one_of(*LOG_LEVELS), "INFO")
    rest_host: str = _setting("REST_HOST", _text, "127.0.0.1")
    rest_port: int = _setting("REST_PORT", _port, 8080)
    rest_max_header_bytes: int = _setting("REST_MAX_HEADER_BYTES", _positive_int, 16 * 1024)
    rest_max_connections: int = _setting("REST_MAX_CONNECTIONS", _positive_int, 1000)
    rest_header_timeout_s: float = _setting("REST_HEADER_TIMEOUT_S", _positive_float, 10.0)
    rest_idle_timeout_s: float = _setting("REST_IDLE_TIMEOUT_S", _positive_float, 5.0)
    grpc_port: int = _setting("GRPC_PORT", _port, 0)
    """Seed name: `fnproxy serve` also serves the seeds' gRPC services on this port (on
    REST_HOST); 0 (unset): no gRPC server."""
    serve_workers: int = _setting("SERVE_WORKERS", _positive_int, 1)
    """`fnproxy serve`'s server processes, sharing the REST (and gRPC) port; more than one
    needs a store other processes can share (not SQLite)."""

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def sqlite_file(self) -> Path:
        return Path(self.sqlite_path) if self.sqlite_path else self.data_path / "fnproxy.db"

    def backend_for(self, port: str) -> str:
        chosen = getattr(self, f"{port}_backend")
        return chosen or PLATFORM_DEFAULTS[self.platform][port]

    def with_overrides(self, **changes: Any) -> Settings:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return Settings(**values)


PLATFORM_DEFAULTS: dict[str, dict[str, str]] = {
    "local": {
        "store": "sqlite",
        "secrets": "env",
        "events": "local",
        "queue": "local",
        "blobs": "local",
        "metrics": "prometheus",
    },
    "aws": {
        "store": "dynamodb",
        "secrets": "aws",
        "events": "sns",
        "queue": "sqs",
        "blobs": "s3",
        "metrics": "emf",
    },
    "gcp": {
        "store": "firestore",
        "secrets": "gcp",
        "events": "pubsub",
        "queue": "pubsub",
        "blobs": "gcs",
        "metrics": "log",
    },
}


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse `KEY=VALUE` lines; `#` comments, `export ` prefixes and quotes are understood."""
    if not path.is_file():
        return {}
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("export "):
            stripped = stripped[len("export ") :]
        key, sep, value = stripped.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def load_settings(
    environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")
) -> Settings:
    """Build settings: the environment wins over `.env`; unset variables keep their defaults."""
    source = dict(read_dotenv(dotenv)) if dotenv is not None else {}
    source.update(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    for spec in fields(Settings):
        name = spec.metadata["env"]
        raw = source.get(name)
        if raw is None or raw == "":
            continue
        values[spec.name] = spec.metadata["parse"](name, raw)
    return Settings(**values)


GENERATED_KEY_FILE = "module_secret_key"


def ensure_local_secret_key(settings: Settings, announce: Callable[[str], None]) -> Settings:
    """Locally, a first run without `MODULE_SECRET_KEY` generates one into the data folder.

    The key file is created with mode 0600 (in a data folder created 0700) and reused on later
    runs. `announce` is told where the key lives (never the key itself).
    """
    if settings.module_secret_key or settings.platform != "local":
        return settings
    key_file = settings.data_path / GENERATED_KEY_FILE
    if key_file.is_file():
        key = key_file.read_text(encoding="utf-8").strip()
        _secret_key(f"MODULE_SECRET_KEY (from {key_file})", key)
    else:
        settings.data_path.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)  # 64 characters
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(key + "\n")
        announce(f"MODULE_SECRET_KEY was not set: generated one into {key_file}")
    return settings.with_overrides(module_secret_key=key)
