"""A Secret Manager test server: Google ships no emulator (../shared/TESTING.md), so this serves
the gRPC service `google.cloud.secretmanager.v1.SecretManagerService` from memory, with the
google-cloud-secret-manager package's own message types on the wire, for the official client.

It answers the calls fnproxy and its tests make: CreateSecret, GetSecret, AddSecretVersion,
AccessSecretVersion (a version number or `latest`, the most recently created version),
ListSecretVersions (newest first, paged, filtered on `state`) and DisableSecretVersion, with the
status codes of the real API: NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION for a version that
is not enabled, INVALID_ARGUMENT for a filter it does not know. It records every call and can
fail every call on one secret with a given status.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import grpc
from google.cloud.secretmanager_v1 import SecretManagerServiceClient
from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
    SecretManagerServiceGrpcTransport,
)
from google.cloud.secretmanager_v1.types import resources, service

SERVICE = "google.cloud.secretmanager.v1.SecretManagerService"
ENABLED = resources.SecretVersion.State.ENABLED
DISABLED = resources.SecretVersion.State.DISABLED
VERSION_NAME = re.compile(r"(?P<secret>projects/[^/]+/secrets/[^/]+)/versions/(?P<version>[^/]+)")
STATE_FILTER = re.compile(r"state\s*[:=]\s*(?P<state>[A-Z_]+)")


@dataclass
class _Secret:
    secret: resources.Secret
    versions: list[tuple[resources.SecretVersion, resources.SecretPayload]] = field(
        default_factory=list
    )


class _Abort(Exception):
    def __init__(self, status: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.status = status


class SecretManagerServer:
    """The service on 127.0.0.1 (`host`), served by gRPC's own threads once started."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        """(method, resource name) of every call, in order."""
        self._failures: dict[str, grpc.StatusCode] = {}
        self._secrets: dict[str, _Secret] = {}
        self._lock = threading.Lock()
        self._server = grpc.server(ThreadPoolExecutor(max_workers=4))
        self._server.add_generic_rpc_handlers([self._handlers()])
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop(grace=None).wait()

    def client(self) -> SecretManagerServiceClient:
        """An official client of this server, as an operator would use one."""
        channel = grpc.insecure_channel(self.host)
        return SecretManagerServiceClient(
            transport=SecretManagerServiceGrpcTransport(channel=channel)
        )

    def calls_on(self, secret: str) -> list[str]:
        """The methods called on `secret` or on its versions, in order."""
        with self._lock:
            return [m for m, name in self.calls if name == secret or name.startswith(secret + "/")]

    def fail(self, secret: str, status: grpc.StatusCode) -> None:
        """Answer every later call on `secret` (or its versions) with `status`."""
        with self._lock:
            self._failures[secret] = status

    def _handlers(self) -> grpc.GenericRpcHandler:
        methods: dict[str, tuple[Callable, type, type]] = {
            "CreateSecret": (self._create_secret, service.CreateSecretRequest, resources.Secret),
            "GetSecret": (self._get_secret, service.GetSecretRequest, resources.Secret),
            "AddSecretVersion": (
                self._add_secret_version,
                service.AddSecretVersionRequest,
                resources.SecretVersion,
            ),
            "AccessSecretVersion": (
                self._access_secret_version,
                service.AccessSecretVersionRequest,
                service.AccessSecretVersionResponse,
            ),
            "ListSecretVersions": (
                self._list_secret_versions,
                service.ListSecretVersionsRequest,
                service.ListSecretVersionsResponse,
            ),
            "DisableSecretVersion": (
                self._disable_secret_version,
                service.DisableSecretVersionRequest,
                resources.SecretVersion,
            ),
        }
        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                method: grpc.unary_unary_rpc_method_handler(
                    self._recorded(method, answer),
                    request_deserializer=request_type.deserialize,
                    response_serializer=response_type.serialize,
                )
                for method, (answer, request_type, response_type) in methods.items()
            },
        )

    def _recorded(self, method: str, answer: Callable) -> Callable:
        def handle(request, context: grpc.ServicerContext):
            resource = _resource(request)
            with self._lock:
                self.calls.append((method, resource))
                try:
                    self._fail_if_asked(resource)
                    return answer(request)
                except _Abort as abort:
                    failure = abort
            context.abort(failure.status, str(failure))

        return handle

    def _fail_if_asked(self, resource: str) -> None:
        for secret, status in self._failures.items():
            if resource == secret or resource.startswith(secret + "/"):
                raise _Abort(status, f"{status.name} (injected by the test server)")

    def _create_secret(self, request: service.CreateSecretRequest) -> resources.Secret:
        name = f"{request.parent}/secrets/{request.secret_id}"
        if name in self._secrets:
            raise _Abort(grpc.StatusCode.ALREADY_EXISTS, f"Secret [{name}] already exists.")
        secret = resources.Secret(request.secret, name=name, create_time=datetime.now(UTC))
        self._secrets[name] = _Secret(secret)
        return secret

    def _get_secret(self, request: service.GetSecretRequest) -> resources.Secret:
        return self._secret(request.name).secret

    def _add_secret_version(
        self, request: service.AddSecretVersionRequest
    ) -> resources.SecretVersion:
        stored = self._secret(request.parent)
        version = resources.SecretVersion(
            name=f"{request.parent}/versions/{len(stored.versions) + 1}",
            state=ENABLED,
            create_time=datetime.now(UTC),
        )
        stored.versions.append((version, request.payload))
        return version

    def _access_secret_version(
        self, request: service.AccessSecretVersionRequest
    ) -> service.AccessSecretVersionResponse:
        version, payload = self._version(request.name)
        if version.state != ENABLED:
            raise _Abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"Secret Version [{version.name}] is in {version.state.name} state.",
            )
        return service.AccessSecretVersionResponse(name=version.name, payload=payload)

    def _list_secret_versions(
        self, request: service.ListSecretVersionsRequest
    ) -> service.ListSecretVersionsResponse:
        state = _filtered_state(request.filter)
        newest_first = [version for version, _ in reversed(self._secret(request.parent).versions)]
        matching = [v for v in newest_first if state is None or v.state.name == state]
        start = int(request.page_token or 0)
        end = start + (request.page_size or len(matching))
        return service.ListSecretVersionsResponse(
            versions=matching[start:end],
            next_page_token=str(end) if end < len(matching) else "",
            total_size=0 if request.filter else len(matching),  # as documented
        )

    def _disable_secret_version(
        self, request: service.DisableSecretVersionRequest
    ) -> resources.SecretVersion:
        version, _ = self._version(request.name)
        version.state = DISABLED
        return version

    def _secret(self, name: str) -> _Secret:
        stored = self._secrets.get(name)
        if stored is None:
            raise _Abort(grpc.StatusCode.NOT_FOUND, f"Secret [{name}] not found.")
        return stored

    def _version(self, name: str) -> tuple[resources.SecretVersion, resources.SecretPayload]:
        match = VERSION_NAME.fullmatch(name)
        if match is None:
            raise _Abort(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid secret version [{name}].")
        versions = self._secret(match["secret"]).versions
        wanted = match["version"]
        if wanted == "latest" and versions:
            return versions[-1]
        if wanted.isdigit() and 0 < int(wanted) <= len(versions):
            return versions[int(wanted) - 1]
        raise _Abort(grpc.StatusCode.NOT_FOUND, f"Secret Version [{name}] not found.")


def _resource(request) -> str:
    """The secret or version a request is about."""
    if isinstance(request, service.CreateSecretRequest):
        return f"{request.parent}/secrets/{request.secret_id}"
    return getattr(request, "name", "") or request.parent


def _filtered_state(filter_text: str) -> str | None:
    """The state a `state:NAME` filter keeps; None for no filter."""
    if not filter_text:
        return None
    match = STATE_FILTER.fullmatch(filter_text.strip())
    if match is None:
        raise _Abort(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"the test server filters on state only, not {filter_text!r}",
        )
    return match["state"]
