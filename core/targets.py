"""What an invocation points at: a discriminated union on `provider`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

_NAME = Field(min_length=1, max_length=256)


class _Target(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AwsLambdaTarget(_Target):
    provider: Literal["aws_lambda"]
    function: str = _NAME
    qualifier: str | None = Field(default=None, max_length=128)
    region: str | None = Field(default=None, max_length=32)
    invocation_type: Literal["RequestResponse", "Event"] = "RequestResponse"
    """Lambda's own Event type hands the call to Lambda's queue (202, no result)."""


class GcpFunctionsTarget(_Target):
    provider: Literal["gcp_functions"]
    function: str | None = Field(default=None, min_length=1, max_length=256)
    project: str | None = Field(default=None, max_length=128)
    region: str | None = Field(default=None, max_length=64)
    url: str | None = Field(default=None, pattern=r"^https?://", max_length=2048)
    method: str = Field(default="POST", pattern=r"^[A-Za-z]+$", max_length=16)
    headers: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _function_or_url(self) -> GcpFunctionsTarget:
        if (self.function is None) == (self.url is None):
            raise ValueError("give exactly one of 'function' or 'url'")
        return self


class OpenWhiskTarget(_Target):
    provider: Literal["openwhisk"]
    action: str = _NAME
    namespace: str | None = Field(default=None, max_length=256)
    kind: Literal["action", "sequence", "web", "trigger"] = "action"
    blocking: bool = True
    """False hands the activation to OpenWhisk and returns its id at once (settled later)."""


class HttpTarget(_Target):
    provider: Literal["http"]
    url: str = Field(pattern=r"^https?://[^\s/]+", max_length=2048)
    method: str = Field(default="POST", pattern=r"^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)$")
    headers: dict[str, str] = Field(default_factory=dict)


class LocalTarget(_Target):
    provider: Literal["local"]
    function: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$", max_length=128
    )


Target = Annotated[
    AwsLambdaTarget | GcpFunctionsTarget | OpenWhiskTarget | HttpTarget | LocalTarget,
    Field(discriminator="provider"),
]

PROVIDER_NAMES = ("aws_lambda", "gcp_functions", "openwhisk", "http", "local")
