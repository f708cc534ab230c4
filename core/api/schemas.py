"""Request bodies of the native API, validated with pydantic (unknown fields refused)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from core.auth.scopes import MAX_SCOPE_CHARS, SCOPE_PATTERN, WHITESPACE_CLASS
from core.deferred_model import DeferredModel
from core.json_types import whole_number
from core.models import FUNCTION_NAME_PATTERN
from core.registry.policy import FunctionPolicy
from core.targets import HttpUrlText, Target

MAX_TIMEOUT_S = 900.0
INVOCATION_RULES = [
    {
        "if": {"properties": {"callback_url": {"type": "string"}}, "required": ["callback_url"]},
        "then": {"properties": {"mode": {"const": "async"}}, "required": ["mode"]},
    },
    {
        "if": {"properties": {"session_id": {"type": "string"}}, "required": ["session_id"]},
        "then": {"properties": {"payload": {"type": "object"}}, "required": ["payload"]},
    },
]
"""What `_callback_when_async` and `_session_with_object` check, as the document says it."""
OPENWHISK_OBJECT_PAYLOAD = {
    "if": {
        "properties": {"target": {"properties": {"provider": {"const": "openwhisk"}}}},
        "required": ["target"],
    },
    "then": {"properties": {"payload": {"type": ["object", "null"]}}},
}
"""An OpenWhisk action's parameters are an object (the provider refuses anything else)."""


def _callback_when_async(value: str | None, info: ValidationInfo) -> str | None:
    if value is not None and info.data.get("mode", "async") != "async":  # a bad mode: its own error
        raise ValueError("callback_url is only for async invocations (mode 'async')")
    return value


def _session_with_object(value: str | None, info: ValidationInfo) -> str | None:
    if value is not None and "payload" in info.data and not isinstance(info.data["payload"], dict):
        raise ValueError("session_id needs a JSON object payload")
    return value


class _Body(DeferredModel):
    """Strict: a JSON value of another type is refused, never coerced (`0`/`false` for a
    number or a boolean, `"1"` for a number); an integer is still a number."""

    model_config = ConfigDict(extra="forbid", strict=True)


class TokenRequest(_Body):
    """Client credentials, or the module secret key as `api_key`."""

    client_id: str | None = Field(default=None, max_length=128)
    client_secret: str | None = Field(default=None, max_length=256)
    api_key: str | None = Field(default=None, max_length=1024)
    grant_type: Literal["client_credentials"] | None = None
    scope: str | None = Field(default=None, max_length=1024)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"client_id": "cl_0193a1f2", "client_secret": "s3cr3t..."}]
        },
    )


class TokenResponse(DeferredModel):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str


Scope = Annotated[
    str,
    Field(
        max_length=MAX_SCOPE_CHARS,
        pattern=SCOPE_PATTERN,
        description="admin, read, invoke, or invoke:<glob> (a glob of function keys, "
        "e.g. invoke:aws_lambda:billing-*, without whitespace)",
    ),
]
"""A scope a client may be given: exactly what `core.auth.scopes.is_known_scope` accepts."""


class ClientCreate(_Body):
    name: str = Field(min_length=1, max_length=128, pattern=f"[^{WHITESPACE_CLASS}]")
    """Not only whitespace."""
    scopes: list[Scope] = Field(min_length=1, max_length=32)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "billing-service", "scopes": ["invoke:aws_lambda:billing-*", "read"]}
            ]
        },
    )


class _InvocationOptions(_Body):
    """What an invocation asks besides its target: the same for a target named in the body
    (`InvokeRequest`) and for a registered function named in the path (`NamedInvokeRequest`)."""

    payload: Any = None
    mode: Literal["sync", "async", "dry_run"] = "sync"
    timeout_s: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT_S)
    session_id: str | None = Field(default=None, min_length=1, max_length=64)
    callback_url: HttpUrlText | None = None
    """Async invocations only."""

    _callback = field_validator("callback_url")(_callback_when_async)
    _session = field_validator("session_id")(_session_with_object)


class InvokeRequest(_InvocationOptions):
    target: Target

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "allOf": [*INVOCATION_RULES, OPENWHISK_OBJECT_PAYLOAD],
            "examples": [
                {
                    "target": {"provider": "local", "function": "hello"},
                    "payload": {"name": "you"},
                    "mode": "sync",
                }
            ],
        },
    )


class BatchRequest(_Body):
    invocations: list[InvokeRequest] = Field(min_length=1)
    concurrency: whole_number(ge=1) | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "invocations": [
                        {"target": {"provider": "local", "function": "echo"}, "payload": {"n": 1}},
                        {
                            "target": {"provider": "http", "url": "https://example.com/fn"},
                            "mode": "async",
                        },
                    ],
                    "concurrency": 10,
                }
            ]
        },
    )


SESSION_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"


class SessionCreate(_Body):
    session_id: str | None = Field(
        default=None,
        pattern=SESSION_ID_PATTERN,
        description="An id of your choosing (letters, digits, . _ : -); a new one if omitted",
    )
    data: dict[str, Any] = Field(default_factory=dict)
    ttl_s: whole_number(gt=0, le=30 * 24 * 3600) | None = None


class SessionUpdate(_Body):
    data: dict[str, Any]
    ttl_s: whole_number(gt=0, le=30 * 24 * 3600) | None = None


class FunctionCreate(_Body):
    name: str = Field(pattern=FUNCTION_NAME_PATTERN)
    description: str = Field(default="", max_length=1024)
    target: Target
    policy: FunctionPolicy = Field(default_factory=FunctionPolicy)

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "greeter",
                    "description": "Says hello",
                    "target": {"provider": "aws_lambda", "function": "greeter-prod"},
                    "policy": {"timeout_s": 30},
                }
            ]
        },
    )


class FunctionUpdate(_Body):
    description: str | None = Field(default=None, max_length=1024)
    policy: FunctionPolicy | None = None


class VersionCreate(_Body):
    target: Target
    activate: bool = False


MAX_VERSION_NUMBER = 2**53
"""The largest version number a body may name, as the `{version}` path parameter and the
`version` query: JSON readers keep integers exact up to it."""


class ActiveVersion(_Body):
    version: whole_number(ge=1, le=MAX_VERSION_NUMBER)


class AliasTarget(_Body):
    version: whole_number(ge=1, le=MAX_VERSION_NUMBER) = Field(
        description="the version the alias names"
    )


class CanarySplit(_Body):
    version: whole_number(ge=1, le=MAX_VERSION_NUMBER)
    weight: whole_number(ge=1, le=99) = Field(
        description="percent of invocations that run `version`"
    )


class NamedInvokeRequest(_InvocationOptions):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "allOf": INVOCATION_RULES,
            "examples": [{"payload": {"name": "you"}, "mode": "sync"}],
        },
    )
