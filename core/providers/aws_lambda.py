"""The `aws_lambda` provider: AWS Lambda functions through boto3.

boto3 is synchronous: every call runs in this provider's own thread pool, sized like the
connection pool of its clients (`pool_size`), never on the event loop. One client per region is
built on first use (in a pool thread, under a lock) and kept for the default region and those
in botocore's list; any other region of the AWS region syntax (`core.targets.AWS_REGION_PATTERN`,
which names the endpoint's host and no other) gets a client for its call only, so that callers
cannot make the provider keep clients without end. botocore
does not retry (fnproxy's runner does, with backoff honouring `retryAfterSeconds`).

A target's `function` is a name, `name:qualifier`, a partial ARN (`123456789012:function:name`)
or a full ARN; its region comes from `target.region`, else the ARN, else the default region.

Its function key (what `invoke:` scopes match) is `aws_lambda:NAME[:QUALIFIER]` for a bare name
with no region, the function of fnproxy's own account in the default region. A target that names
an account or a region (an ARN, a partial ARN, `target.region`) has the located key
`aws_lambda:/REGION/ACCOUNT/NAME[:QUALIFIER]`, ACCOUNT being `self` (fnproxy's own) when the
target names none. No function name starts with `/`, so a glob on bare names
(`aws_lambda:billing-*`) never reaches another account or region.

- RequestResponse: `LogType=Tail`; the function's result, its decoded log tail, the executed
  version and the request id are recorded. A `FunctionError` is a failed outcome whose result is
  the function's error payload (status code stays Lambda's 200).
- Event: Lambda's own queue takes the call: 202, no result, settled (fnproxy never learns more).
- DryRun (`dry_run`): Lambda checks the function, qualifier and permission: 204.

Payloads over Lambda's limits (6 MB sync, 1 MB Event) are refused before any call. Throttling,
5xx and connection failures are transient; an unknown function is `FunctionNotFound`; a function
that cannot start for its own configuration (bad runtime, zip, KMS key, subnet, ...) is a failed
outcome with Lambda's status code; any other refusal is the caller's `InvalidRequest`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import math
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from core.aws_clients import available_regions, aws_client
from core.errors import (
    Forbidden,
    FunctionNotFound,
    InvalidRequest,
    PayloadTooLarge,
    UpstreamUnavailable,
)
from core.models import Page
from core.providers.base import (
    MAX_CLIENT_CONTEXT_LENGTH,
    CallContext,
    FunctionInfo,
    InvocationOutcome,
    TransientFailure,
    answered_at_once,
)
from core.targets import (
    AWS_ACCOUNT,
    AWS_ARN_REGION,
    AWS_FUNCTION_NAME,
    AWS_NAME_QUALIFIER,
    AWS_QUALIFIER_PATTERN,
    AWS_REGION_PATTERN,
    AwsLambdaTarget,
)

SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024
EVENT_PAYLOAD_LIMIT = 1024 * 1024
PAYLOAD_LIMITS = {"RequestResponse": SYNC_PAYLOAD_LIMIT, "Event": EVENT_PAYLOAD_LIMIT}

READ_TIMEOUT_S = 900 + 15
"""Lambda's longest run (15 min) and a margin: a sync call is never cut short by botocore."""
CONNECT_TIMEOUT_S = 5
EXECUTION_ID_KEY = "fnproxy_execution_id"
"""Where a function finds the execution id: `context.client_context.custom[...]` (sync only),
next to the attempt's `traceparent` and `tracestate`."""

# core.targets.AWS_FUNCTION_PATTERN (what the target's schema states), with its parts named.
_FUNCTION = re.compile(
    rf"(?:(?:arn:aws[a-zA-Z-]*:lambda:(?P<region>{AWS_ARN_REGION}):)?"
    rf"(?P<account>{AWS_ACCOUNT}):function:)?"
    rf"(?P<name>{AWS_FUNCTION_NAME})"
    rf"(?::(?P<qualifier>{AWS_NAME_QUALIFIER}))?"
)
_QUALIFIER = re.compile(AWS_QUALIFIER_PATTERN)
_REGION = re.compile(AWS_REGION_PATTERN)

# A function that exists but cannot start because of its own configuration: repeating will not
# help and it is not the caller's mistake, so it is the function's failed outcome.
FUNCTION_FAULTS = frozenset(
    {
        "CodeArtifactUserDeletedException",
        "CodeArtifactUserFailedException",
        "EC2AccessDeniedException",
        "EFSIOException",
        "EFSMountFailureException",
        "InvalidRuntimeException",
        "InvalidSecurityGroupIDException",
        "InvalidSubnetIDException",
        "InvalidZipFileException",
        "KMSAccessDeniedException",
        "KMSDisabledException",
        "KMSNotFoundException",
        "RuntimeAliasDeletedException",
        "RuntimeVersionDeletedException",
        "S3FilesMountFailureException",
        "SnapStartRegenerationFailureException",
    }
)
# Besides every 5xx that is not a function fault: the attempt may succeed if repeated.
TRANSIENT_CODES = frozenset(
    {
        "CodeArtifactUserPendingException",
        "EFSMountConnectivityException",
        "EFSMountTimeoutException",
        "ResourceConflictException",  # the function is being created or updated
        "S3FilesMountConnectivityException",
        "S3FilesMountTimeoutException",
        "SnapStartNotReadyException",
        "SnapStartTimeoutException",
        "ThrottlingException",
        "TooManyRequestsException",
    }
)
TOO_LARGE_CODES = frozenset(
    {"RequestTooLargeException", "SerializedRequestEntityTooLargeException"}
)
ACCESS_DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied"})
CREDENTIAL_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "IncompleteSignature",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "MissingAuthenticationToken",
        "UnrecognizedClientException",
    }
)


OWN_ACCOUNT = "self"
"""The account of a located key whose target names no account: fnproxy's credentials' own."""


@dataclass(frozen=True)
class FunctionRef:
    """A Lambda function resolved from a target: what to call, where, and its function key."""

    function_name: str
    """Name or ARN without the qualifier, as Lambda's `FunctionName`."""
    name: str
    qualifier: str | None
    region: str
    account: str | None
    """The account the target names, if any."""
    located: bool
    """Whether the target names an account or a region: the key then names both."""

    @property
    def key(self) -> str:
        suffix = f":{self.qualifier}" if self.qualifier else ""
        if not self.located:
            return f"aws_lambda:{self.name}{suffix}"
        account = self.account or OWN_ACCOUNT
        return f"aws_lambda:/{self.region}/{account}/{self.name}{suffix}"


class AwsLambdaProvider:
    name = "aws_lambda"

    def __init__(
        self, default_region: str, pool_size: int, endpoint_url: str | None = None
    ) -> None:
        self._default_region = default_region
        self._endpoint_url = endpoint_url or None
        self._config = Config(
            max_pool_connections=pool_size,
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=CONNECT_TIMEOUT_S,
            read_timeout=READ_TIMEOUT_S,
            tcp_keepalive=True,  # long sync calls must survive idle-connection reapers
        )
        self._executor = ThreadPoolExecutor(pool_size, thread_name_prefix="fnproxy-aws-lambda")
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}

    def function_key(self, target: AwsLambdaTarget) -> str:
        return self.resolve(target.function, target.qualifier, target.region).key

    async def invoke(
        self, target: AwsLambdaTarget, payload: Any, context: CallContext
    ) -> InvocationOutcome:
        ref = self.resolve(target.function, target.qualifier, target.region)
        invocation_type = target.invocation_type
        params = _function_params(ref, InvocationType=invocation_type)
        body = _encode(payload, invocation_type)
        if body is not None:
            params["Payload"] = body
        if invocation_type == "RequestResponse":
            params["LogType"] = "Tail"
            params["ClientContext"] = _client_context(context)
        info = _info(ref, invocation_type)
        try:
            response = await self._call(ref.region, "invoke", params)
        except ClientError as error:
            if _code(error) in FUNCTION_FAULTS:
                return _fault_outcome(error, info)
            raise _refusal(error, _subject(ref)) from error
        info["request_id"] = _request_id(response)
        if invocation_type == "Event":  # queued by Lambda: no result, ever
            return InvocationOutcome(success=True, status_code=response["StatusCode"], info=info)
        return _outcome(response, info)

    async def dry_run(
        self, target: AwsLambdaTarget, payload: Any, context: CallContext
    ) -> InvocationOutcome:
        """Lambda's DryRun (function, qualifier and permission checked); the payload is encoded
        and measured against the target's limit but not sent."""
        ref = self.resolve(target.function, target.qualifier, target.region)
        body = _encode(payload, target.invocation_type)
        params = _function_params(ref, InvocationType="DryRun")
        response = await self._request(ref.region, "invoke", params, _subject(ref))
        info = _info(ref, "DryRun")
        info.update(payload_bytes=len(body or b""), request_id=_request_id(response))
        return InvocationOutcome(success=True, status_code=response["StatusCode"], info=info)

    async def list_functions(self, limit: int, cursor: str | None) -> Page[FunctionInfo]:
        params: dict[str, Any] = {"MaxItems": limit}
        if cursor:
            params["Marker"] = cursor
        subject = f"Lambda functions in {self._default_region}"
        response = await self._describe(self._default_region, "list_functions", params, subject)
        items = [_function_info(config) for config in response.get("Functions", [])]
        return Page(items=items, next_cursor=response.get("NextMarker") or None)

    async def get_function(self, name: str) -> FunctionInfo:
        """`FunctionNotFound` for a name no Lambda function can have, too: it names none."""
        try:
            ref = self.resolve(name, None, None)
        except InvalidRequest as malformed:
            raise FunctionNotFound(f"no Lambda function {name[:256]!r}") from malformed
        params = _function_params(ref)
        subject = _subject(ref)
        config = await self._describe(ref.region, "get_function_configuration", params, subject)
        return _function_info(config)

    async def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()

    def resolve(self, function: str, qualifier: str | None, region: str | None) -> FunctionRef:
        """Parse a function name or ARN; `InvalidRequest` when it is malformed or disagrees
        with the target's own qualifier or region."""
        match = _FUNCTION.fullmatch(function)
        if match is None:
            raise InvalidRequest(f"{function!r} is not a Lambda function name or ARN")
        if qualifier is not None and not _QUALIFIER.fullmatch(qualifier):
            raise InvalidRequest(f"{qualifier!r} is not a Lambda version or alias")
        qualifier = _agreed("qualifier", match["qualifier"], qualifier)
        located = bool(match["account"] or region)
        region = _agreed("region", match["region"], region) or self._default_region
        if region != self._default_region and not _REGION.fullmatch(region):
            raise InvalidRequest(f"{region!r} is not an AWS region")
        function_name = function[: match.start("qualifier") - 1] if match["qualifier"] else function
        return FunctionRef(
            function_name, match["name"], qualifier, region, match["account"], located
        )

    def client(self, region: str | None = None) -> Any:
        """The region's Lambda client, built once (thread-safe)."""
        region = region or self._default_region
        client = self._clients.get(region)
        if client is None:
            with self._lock:
                client = self._clients.get(region)
                if client is None:
                    client = self._clients[region] = self._new_client(region)
        return client

    def _new_client(self, region: str) -> Any:
        return aws_client("lambda", region, self._endpoint_url, self._config)

    async def _call(self, region: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """One API call in the pool; botocore's own failures become fnproxy's, a refusal of
        Lambda is left as the `ClientError` for the caller to judge."""
        loop = asyncio.get_running_loop()
        call = functools.partial(self._call_blocking, region, operation, params)
        try:
            return await loop.run_in_executor(self._executor, call)
        except (BotoConnectionError, HTTPClientError) as error:
            reason = f"Lambda in {region} unreachable: {type(error).__name__}"
            raise TransientFailure(reason) from error
        except (NoCredentialsError, PartialCredentialsError) as error:
            raise UpstreamUnavailable("fnproxy has no usable AWS credentials") from error

    def _call_blocking(self, region: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        if region == self._default_region or region in _lambda_regions():
            return _performed(self.client(region), operation, params)
        client = self._new_client(region)  # a region botocore does not know: never kept
        try:
            return _performed(client, operation, params)
        finally:
            client.close()

    async def _request(
        self, region: str, operation: str, params: dict[str, Any], subject: str
    ) -> dict[str, Any]:
        """`_call`, with every refusal of Lambda turned into fnproxy's meaning of it."""
        try:
            return await self._call(region, operation, params)
        except ClientError as error:
            raise _refusal(error, subject) from error

    async def _describe(
        self, region: str, operation: str, params: dict[str, Any], subject: str
    ) -> dict[str, Any]:
        """A read-only call for the API: nobody retries it (`answered_at_once`)."""
        return await answered_at_once(
            self._request(region, operation, params, subject), "AWS Lambda"
        )


@functools.cache
def _lambda_regions() -> frozenset[str]:
    return available_regions("lambda")


def _performed(client: Any, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    response = getattr(client, operation)(**params)
    if "Payload" in response:  # a stream: read it here, off the event loop
        response["Payload"] = response["Payload"].read()
    return response


def _function_params(ref: FunctionRef, **more: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"FunctionName": ref.function_name, **more}
    if ref.qualifier:
        params["Qualifier"] = ref.qualifier
    return params


def _agreed(what: str, from_name: str | None, given: str | None) -> str | None:
    if from_name and given and from_name != given:
        raise InvalidRequest(f"the function names {what} {from_name!r} but the target {given!r}")
    return from_name or given


def _subject(ref: FunctionRef) -> str:
    suffix = f":{ref.qualifier}" if ref.qualifier else ""
    return f"Lambda function {ref.name}{suffix} in {ref.region}"


def _encode(payload: Any, invocation_type: str) -> bytes | None:
    """The request body (None for no payload), refused when over the invocation type's limit."""
    if payload is None:
        body = None
    elif isinstance(payload, bytes):
        body = payload
    elif isinstance(payload, str):
        body = payload.encode()
    else:
        try:
            body = orjson.dumps(payload)
        except TypeError as error:
            raise InvalidRequest(f"payload is not JSON-serializable: {error}") from None
    limit = PAYLOAD_LIMITS[invocation_type]
    if body is not None and len(body) > limit:
        raise PayloadTooLarge(
            f"payload is {len(body)} bytes; Lambda takes at most {limit} for {invocation_type}"
        )
    return body


def _client_context(context: CallContext) -> str:
    """The base64 JSON ClientContext: the caller's own (`client`, `custom`, `env`), its
    `custom` joined by the execution id and the attempt's trace context. Lambda takes at most
    3583 characters; fnproxy's part is under 1.5 KiB (a tracestate is at most 512 characters,
    `core.tracing`, twice that JSON-escaped), the caller's was within the bound: when both
    are too much, the trace context, then the execution id, give way to the caller's data."""
    ours = {EXECUTION_ID_KEY: context.execution_id, **context.trace_fields()}
    theirs = context.client_context or {}
    for added in (ours, {EXECUTION_ID_KEY: context.execution_id}):
        custom = {**theirs.get("custom", {}), **added}
        encoded = base64.b64encode(orjson.dumps(theirs | {"custom": custom})).decode()
        if len(encoded) <= MAX_CLIENT_CONTEXT_LENGTH:
            return encoded
    return base64.b64encode(orjson.dumps(theirs)).decode()


def _info(ref: FunctionRef, invocation_type: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "function": ref.name,
        "region": ref.region,
        "invocation_type": invocation_type,
    }
    if ref.qualifier:
        info["qualifier"] = ref.qualifier
    return info


def _request_id(response: dict[str, Any]) -> str | None:
    return response.get("ResponseMetadata", {}).get("RequestId")


def _outcome(response: dict[str, Any], info: dict[str, Any]) -> InvocationOutcome:
    """A RequestResponse answer: the result, or the function's own error."""
    if response.get("ExecutedVersion"):
        info["executed_version"] = response["ExecutedVersion"]
    status = response["StatusCode"]
    result = _decode(response.get("Payload", b""))
    logs = _decode_logs(response.get("LogResult"))
    function_error = response.get("FunctionError")
    if function_error is None:
        return InvocationOutcome(
            success=True, status_code=status, result=result, logs=logs, info=info
        )
    details = result if isinstance(result, dict) else {}
    error = {
        "type": details.get("errorType") or function_error,
        "message": details.get("errorMessage") or f"the function failed ({function_error})",
        "function_error": function_error,
    }
    return InvocationOutcome(
        success=False, status_code=status, result=result, error=error, logs=logs, info=info
    )


def _fault_outcome(error: ClientError, info: dict[str, Any]) -> InvocationOutcome:
    info["request_id"] = _request_id(error.response)
    return InvocationOutcome(
        success=False,
        status_code=_status(error),
        error={"type": _code(error), "message": _message(error)},
        info=info,
    )


def _decode(raw: bytes) -> Any:
    """JSON when it parses, else text; None when empty."""
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", errors="replace")


def _decode_logs(log_result: str | None) -> str | None:
    """The base64 log tail as text (kept as received if it is not base64)."""
    if not log_result:
        return None
    try:
        return base64.b64decode(log_result, validate=True).decode("utf-8", errors="replace")
    except binascii.Error:
        return log_result


def _code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def _message(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Message") or _code(error)


def _status(error: ClientError) -> int:
    return error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 500


def _refusal(error: ClientError, subject: str) -> Exception:
    """What a refusal of Lambda (other than a function fault) means for fnproxy."""
    code, status = _code(error), _status(error)
    if code in TRANSIENT_CODES or status == 429 or (status >= 500 and code not in FUNCTION_FAULTS):
        return _transient(error, subject)
    if code == "ResourceNotFoundException":
        return FunctionNotFound(f"no {subject}")
    if code in TOO_LARGE_CODES:
        return PayloadTooLarge(f"{subject}: {_message(error)}")
    if code in ACCESS_DENIED_CODES:
        return Forbidden(f"fnproxy's AWS identity may not call {subject}: {_message(error)}")
    if code in CREDENTIAL_CODES:
        return UpstreamUnavailable(f"AWS rejected fnproxy's credentials ({code})")
    return InvalidRequest(f"{subject} refused the call: {code}: {_message(error)}")


def _transient(error: ClientError, subject: str) -> TransientFailure:
    code, status = _code(error), _status(error)
    reason = f"{subject}: {code} ({status})"
    if error.response.get("Reason"):  # why Lambda throttled: concurrency, rate, ...
        reason += f" {error.response['Reason']}"
    return TransientFailure(reason, status_code=status, retry_after_s=_retry_after(error))


def _retry_after(error: ClientError) -> float | None:
    """Lambda's `retryAfterSeconds` (its Retry-After header), if it is a usable number."""
    raw = error.response.get("retryAfterSeconds")
    if raw is None:
        raw = error.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("retry-after")
    try:
        seconds = float(raw)
    except (TypeError, ValueError):
        return None
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def _function_info(config: dict[str, Any]) -> FunctionInfo:
    """A function's configuration in the Lambda module's field names."""
    details = {
        "function_name": config.get("FunctionName"),
        "function_arn": config.get("FunctionArn"),
        "runtime": config.get("Runtime"),
        "role": config.get("Role"),
        "handler": config.get("Handler"),
        "code_size": config.get("CodeSize"),
        "description": config.get("Description"),
        "timeout": config.get("Timeout"),
        "memory_size": config.get("MemorySize"),
        "last_modified": config.get("LastModified"),
        "version": config.get("Version"),
    }
    return FunctionInfo(name=config["FunctionName"], provider="aws_lambda", details=details)
