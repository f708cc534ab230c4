"""`gcp_functions_action.GCPFunctionsActionService`: the GCP Functions module's RPCs, through
the /gcp routes' own mapping (core/api/compat/gcp_module.py).

- `payload` is JSON text (text that is no JSON is sent as that JSON string); an empty one is
  `{}`. `request_id` and `timestamp`, the seed router's own trace fields, are not read.
- InvokeFunction and InvokeHTTPFunction answer a function that answered, whatever it
  answered, in the message (`success`, `status_code`, `error`); one not reached in time is an
  error status (UNAVAILABLE, DEADLINE_EXCEEDED). InvokeHTTPFunction is the route's plain
  `http` call (no Google token); `timeout` is in seconds, 0 the default.
- BatchInvoke answers and counts every item, a refused one with `success` false.
- FunctionInfo: `status` is the function's state, `memory_mb` its memory in megabytes, and
  `environment_variables` names its variables with masked values (never their values).
  ListFunctions and GetFunctionDetails need the `read` scope.
"""

from __future__ import annotations

import re
from typing import Any

from core.api.compat import gcp_module as rest
from core.auth.scopes import READ
from core.grpc.calls import GrpcCall, Rpc, Service
from core.grpc.messages import message, payload_value
from core.grpc.protos import gcp_functions_action_pb2 as pb
from core.providers.base import FunctionInfo
from core.redaction import MASK

MEMORY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*([kMGT]i?)?$")
MEGABYTES_PER_UNIT = {
    None: 1e-6,
    "k": 1e-3,
    "M": 1.0,
    "G": 1e3,
    "T": 1e6,
    "Ki": 1024 / 1e6,
    "Mi": 2**20 / 1e6,
    "Gi": 2**30 / 1e6,
    "Ti": 2**40 / 1e6,
}
"""Cloud Functions' availableMemory units (Kubernetes quantities: "256M", "1Gi")."""


def memory_mb(available: Any) -> int:
    """`availableMemory` ("256M", "1Gi", a number of bytes) in whole megabytes; 0 if unknown."""
    found = MEMORY.fullmatch(str(available or "").strip())
    if found is None:
        return 0
    return round(float(found[1]) * MEGABYTES_PER_UNIT[found[2]])


def function_info(info: FunctionInfo) -> pb.FunctionInfo:
    view = rest.details_view(info)
    variables = view.pop("environment_variables") or []
    built = message(
        pb.FunctionInfo, view | {"status": view["state"], "memory_mb": memory_mb(view["memory_mb"])}
    )
    built.environment_variables.update(dict.fromkeys(variables, MASK))
    return built


def invoke_body(request: pb.InvokeFunctionRequest) -> dict[str, Any]:
    """The route's body of an InvokeFunctionRequest (proto3's empty strings: left out)."""
    return {
        "function_name": request.function_name or None,
        "project": request.project or None,
        "region": request.region or None,
        "payload": payload_value(request.payload),
        "headers": dict(request.headers) or None,
    }


async def invoke_function(
    call: GrpcCall, request: pb.InvokeFunctionRequest
) -> pb.InvokeFunctionResponse:
    body = rest.GcpInvokeRequest.model_validate(invoke_body(request))
    invocation = await rest.reached(call, body.to_request())
    return message(pb.InvokeFunctionResponse, rest.invocation_view(invocation))


async def invoke_http_function(
    call: GrpcCall, request: pb.InvokeHTTPRequest
) -> pb.InvokeHTTPResponse:
    body = rest.GcpHttpInvokeRequest.model_validate(
        {
            "url": request.url,
            "method": request.method or "POST",
            "payload": payload_value(request.payload),
            "headers": dict(request.headers) or None,
            "timeout": float(request.timeout) if request.timeout else None,
        }
    )
    invocation = await rest.reached(call, body.to_request())
    return message(pb.InvokeHTTPResponse, rest.http_invocation_view(invocation))


async def batch_invoke(call: GrpcCall, request: pb.BatchInvokeRequest) -> pb.BatchInvokeResponse:
    answer = await rest.batch_answer(call, [invoke_body(item) for item in request.invocations])
    built = message(pb.BatchInvokeResponse, answer)
    built.responses.extend(message(pb.InvokeFunctionResponse, view) for view in answer["responses"])
    return built


async def list_functions(
    call: GrpcCall, request: pb.ListFunctionsRequest
) -> pb.ListFunctionsResponse:
    project, region = rest.location(call.services.settings, request.project, request.region)
    functions = rest.all_functions(rest.gcp_provider(call), project, region)
    return pb.ListFunctionsResponse(functions=[function_info(info) async for info in functions])


async def get_function_details(
    call: GrpcCall, request: pb.GetFunctionDetailsRequest
) -> pb.GetFunctionDetailsResponse:
    info = await rest.function_details(
        call, request.function_name, request.project or None, request.region or None
    )
    return pb.GetFunctionDetailsResponse(success=True, function=function_info(info))


SERVICE = Service(
    pb.DESCRIPTOR.services_by_name["GCPFunctionsActionService"],
    {
        "InvokeFunction": Rpc(invoke_function),
        "InvokeHTTPFunction": Rpc(invoke_http_function),
        "BatchInvoke": Rpc(batch_invoke),
        "ListFunctions": Rpc(list_functions, READ),
        "GetFunctionDetails": Rpc(get_function_details, READ),
    },
)
