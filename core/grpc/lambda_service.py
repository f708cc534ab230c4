"""`lambda_action.LambdaAction`: the Lambda module's RPCs, through the /lambda routes' own
mapping (core/api/compat/lambda_module.py).

- `payload` is JSON text, read as the route reads it; an empty one is `{}`.
- InvokeFunction answers a function that ran (failed or not) with its outcome in the message:
  `success`, Lambda's `status_code`, `function_error` (Lambda's FunctionError) and `error`;
  a function not reached in time is an error status (UNAVAILABLE, DEADLINE_EXCEEDED).
- BatchInvoke answers every item in request order, a refused or failed one with `success`
  false, as the route does. The batch is authenticated once (metadata or the batch's `token`):
  the items' own `token` fields are not read.
- ListFunctions and GetFunctionConfig need the `read` scope; `max_items` 0 is the route's
  default page size.
"""

from __future__ import annotations

from typing import Any

from core.api.compat import lambda_module as rest
from core.api.routes.invoke import unreached
from core.auth.scopes import READ
from core.errors import InvalidRequest
from core.grpc.calls import GrpcCall, Rpc, Service
from core.grpc.messages import EMPTY_PAYLOAD, message
from core.grpc.protos import lambda_action_pb2 as pb
from core.invoke.batch import BatchItemResult
from core.invoke.service import Invocation


def invoke_body(request: pb.InvokeFunctionRequest) -> dict[str, Any]:
    """The route's body of an InvokeFunctionRequest (proto3's empty strings: left out)."""
    return {
        "function_name": request.function_name,
        "payload": request.payload or EMPTY_PAYLOAD,
        "invocation_type": request.invocation_type or "RequestResponse",
        "alias": request.alias or None,
        "version": request.version or None,
    }


def invocation_message(invocation: Invocation) -> pb.InvokeFunctionResponse:
    execution = invocation.execution
    answer = rest.invoke_answer(invocation, rest.failure(execution))
    function_error = (execution.error or {}).get("function_error")
    return message(pb.InvokeFunctionResponse, answer | {"function_error": function_error})


def item_message(item: BatchItemResult) -> pb.InvokeFunctionResponse:
    if item.invocation is None:
        return message(pb.InvokeFunctionResponse, rest.batch_answer(item))
    return invocation_message(item.invocation)


def function_info(details: dict[str, Any]) -> pb.FunctionInfo:
    return message(pb.FunctionInfo, details)


async def invoke_function(
    call: GrpcCall, request: pb.InvokeFunctionRequest
) -> pb.InvokeFunctionResponse:
    body = rest.LambdaInvokeRequest.model_validate(invoke_body(request))
    invocation = await call.invoke(rest.invoke_request(call.services.settings, body))
    problem = unreached(invocation.execution)
    if problem is not None:
        raise problem
    return invocation_message(invocation)


async def invoke_async(call: GrpcCall, request: pb.InvokeAsyncRequest) -> pb.InvokeAsyncResponse:
    body = rest.LambdaInvokeAsyncRequest.model_validate(
        {"function_name": request.function_name, "payload": request.payload or EMPTY_PAYLOAD}
    )
    return message(pb.InvokeAsyncResponse, await rest.accepted_event(call, body))


async def batch_invoke(call: GrpcCall, request: pb.BatchInvokeRequest) -> pb.BatchInvokeResponse:
    body = rest.LambdaBatchRequest.model_validate(
        {"invocations": [invoke_body(item) for item in request.invocations]}
    )
    items = await rest.batch_items(call, body.invocations)
    return pb.BatchInvokeResponse(responses=[item_message(item) for item in items])


async def list_functions(
    call: GrpcCall, request: pb.ListFunctionsRequest
) -> pb.ListFunctionsResponse:
    max_items = request.max_items or rest.DEFAULT_LIST_ITEMS
    if not 1 <= max_items <= rest.MAX_LIST_ITEMS:
        raise InvalidRequest(f"max_items must be between 1 and {rest.MAX_LIST_ITEMS}")
    page = await rest.function_list(call, max_items, request.next_marker or None)
    answer = message(pb.ListFunctionsResponse, page)
    answer.functions.extend(function_info(details) for details in page["functions"])
    return answer


async def get_function_config(
    call: GrpcCall, request: pb.GetFunctionConfigRequest
) -> pb.GetFunctionConfigResponse:
    if not request.function_name:
        raise InvalidRequest("function_name is required")
    details = await rest.function_config(call, request.function_name)
    return pb.GetFunctionConfigResponse(success=True, function_info=function_info(details))


SERVICE = Service(
    pb.DESCRIPTOR.services_by_name["LambdaAction"],
    {
        "InvokeFunction": Rpc(invoke_function),
        "InvokeAsync": Rpc(invoke_async),
        "BatchInvoke": Rpc(batch_invoke),
        "ListFunctions": Rpc(list_functions, READ),
        "GetFunctionConfig": Rpc(get_function_config, READ),
    },
)
