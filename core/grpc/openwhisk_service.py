"""`openwhisk_action.OpenWhiskActionService`: the OpenWhisk module's RPCs, through the
/openwhisk routes' own mapping (core/api/compat/openwhisk_module.py).

- `payload` is the JSON text of an object; an empty one is `{}`. `result` and `response` are
  JSON text; `duration` milliseconds; `timeout` milliseconds (0: the default).
- InvokeAction with `blocking` false (proto3's default) queues the invocation, as the route's
  `blocking: false` does: `success` true means accepted, and `activation_id` is the execution's
  id until OpenWhisk has one (GetActivation reads either). A blocking one answers the
  activation: an action that ran and failed with `success` false, its `status` and `error`;
  one still running past OpenWhisk's wait with `success` false, `status` "running" and the id
  to poll. OpenWhisk not reached in time is an error status (UNAVAILABLE, DEADLINE_EXCEEDED).
- InvokeWebAction answers the web action's own HTTP status in `status_code`.
- GetActivation of an id that is no execution's, and ListActions, need the `read` scope.
"""

from __future__ import annotations

from typing import Any

from core.api.compat import openwhisk_module as rest
from core.auth.scopes import READ
from core.errors import InvalidRequest
from core.grpc.calls import GrpcCall, Rpc, Service
from core.grpc.messages import json_text, message, payload_value
from core.grpc.protos import openwhisk_action_pb2 as pb
from core.invoke.service import Invocation
from core.models import Mode


def located(request: Any, **fields: Any) -> dict[str, Any]:
    """A route body: `fields`, the request's namespace (empty: the default) and payload."""
    return fields | {
        "namespace": request.namespace or None,
        "payload": payload_value(request.payload),
    }


def failure_text(invocation: Invocation) -> str | None:
    """Why the action (or web action) that ran failed; None unless it did."""
    execution = invocation.execution
    if execution.success is not False:
        return None
    return (execution.error or {}).get("message") or "the action failed"


def outcome_fields(invocation: Invocation) -> dict[str, Any]:
    """`success` (false while running), `result` as JSON text, and `error` of a failure."""
    view = rest.invocation_view(invocation)
    return view | {
        "success": bool(view["success"]),
        "result": json_text(view["result"]),
        "error": failure_text(invocation),
    }


async def invoke_action(call: GrpcCall, request: pb.InvokeActionRequest) -> pb.InvokeActionResponse:
    body = rest.OpenWhiskActionInvokeRequest.model_validate(
        located(
            request,
            action_name=request.action_name,
            blocking=request.blocking,
            timeout=request.timeout or None,
        )
    )
    mode = Mode.SYNC if body.blocking else Mode.ASYNC
    target = rest.to_target(body.action_name, body.namespace)
    invocation = await rest.invoke(call, target, body.payload, mode, body.timeout)
    return message(pb.InvokeActionResponse, outcome_fields(invocation))


async def invoke_action_async(
    call: GrpcCall, request: pb.InvokeActionAsyncRequest
) -> pb.InvokeActionAsyncResponse:
    body = rest.OpenWhiskActionAsyncRequest.model_validate(
        located(request, action_name=request.action_name)
    )
    target = rest.to_target(body.action_name, body.namespace)
    execution = (await rest.invoke(call, target, body.payload, Mode.ASYNC)).execution
    return pb.InvokeActionAsyncResponse(
        success=True, activation_id=rest.activation_id(execution) or ""
    )


async def invoke_sequence(
    call: GrpcCall, request: pb.InvokeSequenceRequest
) -> pb.InvokeSequenceResponse:
    body = rest.OpenWhiskSequenceInvokeRequest.model_validate(
        located(request, sequence_name=request.sequence_name)
    )
    target = rest.to_target(body.sequence_name, body.namespace, "sequence")
    invocation = await rest.invoke(call, target, body.payload)
    return message(pb.InvokeSequenceResponse, outcome_fields(invocation))


async def invoke_web_action(
    call: GrpcCall, request: pb.InvokeWebActionRequest
) -> pb.InvokeWebActionResponse:
    body = rest.OpenWhiskWebActionRequest.model_validate(
        located(
            request,
            action_name=request.action_name,
            package_name=request.package_name or "default",
            method=request.method or "POST",
            headers=dict(request.headers),
        )
    )
    invocation = await rest.web_action(call, body)
    view = rest.web_action_view(invocation)
    return message(
        pb.InvokeWebActionResponse,
        view
        | {
            "success": bool(view["success"]),
            "response": json_text(view["response"]),
            "error": failure_text(invocation),
        },
    )


async def fire_trigger(call: GrpcCall, request: pb.FireTriggerRequest) -> pb.FireTriggerResponse:
    body = rest.OpenWhiskTriggerFireRequest.model_validate(
        located(request, trigger_name=request.trigger_name)
    )
    target = rest.to_target(body.trigger_name, body.namespace, "trigger")
    execution = (await rest.invoke(call, target, body.payload)).execution
    return pb.FireTriggerResponse(
        success=bool(execution.success), activation_id=rest.activation_id(execution) or ""
    )


async def get_activation(
    call: GrpcCall, request: pb.GetActivationRequest
) -> pb.GetActivationResponse:
    if not request.activation_id:
        raise InvalidRequest("activation_id is required")
    found = await rest.activation(call, request.activation_id, request.namespace or None)
    return message(pb.GetActivationResponse, found | {"result": json_text(found["result"])})


async def list_actions(call: GrpcCall, request: pb.ListActionsRequest) -> pb.ListActionsResponse:
    limit = request.limit or rest.DEFAULT_LIST_LIMIT
    if not 1 <= limit <= rest.MAX_LIST_LIMIT or not 0 <= request.skip <= rest.MAX_LIST_SKIP:
        raise InvalidRequest(
            f"limit must be between 1 and {rest.MAX_LIST_LIMIT}, "
            f"skip between 0 and {rest.MAX_LIST_SKIP}"
        )
    actions = await rest.action_list(call, limit, request.skip, request.namespace or None)
    return pb.ListActionsResponse(
        success=True, actions=[message(pb.ActionInfo, action) for action in actions]
    )


SERVICE = Service(
    pb.DESCRIPTOR.services_by_name["OpenWhiskActionService"],
    {
        "InvokeAction": Rpc(invoke_action),
        "InvokeActionAsync": Rpc(invoke_action_async),
        "InvokeSequence": Rpc(invoke_sequence),
        "InvokeWebAction": Rpc(invoke_web_action),
        "FireTrigger": Rpc(fire_trigger),
        "GetActivation": Rpc(get_activation),
        "ListActions": Rpc(list_actions, READ),
    },
)
