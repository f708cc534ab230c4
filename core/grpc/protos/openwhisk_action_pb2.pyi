from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InvokeActionRequest(_message.Message):
    __slots__ = ("namespace", "action_name", "payload", "blocking", "timeout")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    ACTION_NAME_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    BLOCKING_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    action_name: str
    payload: str
    blocking: bool
    timeout: int
    def __init__(self, namespace: _Optional[str] = ..., action_name: _Optional[str] = ..., payload: _Optional[str] = ..., blocking: _Optional[bool] = ..., timeout: _Optional[int] = ...) -> None: ...

class InvokeActionResponse(_message.Message):
    __slots__ = ("success", "activation_id", "result", "duration", "start_time", "end_time", "status", "error")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    success: bool
    activation_id: str
    result: str
    duration: int
    start_time: int
    end_time: int
    status: str
    error: str
    def __init__(self, success: _Optional[bool] = ..., activation_id: _Optional[str] = ..., result: _Optional[str] = ..., duration: _Optional[int] = ..., start_time: _Optional[int] = ..., end_time: _Optional[int] = ..., status: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class InvokeActionAsyncRequest(_message.Message):
    __slots__ = ("namespace", "action_name", "payload")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    ACTION_NAME_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    action_name: str
    payload: str
    def __init__(self, namespace: _Optional[str] = ..., action_name: _Optional[str] = ..., payload: _Optional[str] = ...) -> None: ...

class InvokeActionAsyncResponse(_message.Message):
    __slots__ = ("success", "activation_id", "error")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    success: bool
    activation_id: str
    error: str
    def __init__(self, success: _Optional[bool] = ..., activation_id: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class InvokeSequenceRequest(_message.Message):
    __slots__ = ("namespace", "sequence_name", "payload")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_NAME_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    sequence_name: str
    payload: str
    def __init__(self, namespace: _Optional[str] = ..., sequence_name: _Optional[str] = ..., payload: _Optional[str] = ...) -> None: ...

class InvokeSequenceResponse(_message.Message):
    __slots__ = ("success", "activation_id", "result", "error")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    success: bool
    activation_id: str
    result: str
    error: str
    def __init__(self, success: _Optional[bool] = ..., activation_id: _Optional[str] = ..., result: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class InvokeWebActionRequest(_message.Message):
    __slots__ = ("namespace", "package_name", "action_name", "payload", "method", "headers")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_NAME_FIELD_NUMBER: _ClassVar[int]
    ACTION_NAME_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    package_name: str
    action_name: str
    payload: str
    method: str
    headers: _containers.ScalarMap[str, str]
    def __init__(self, namespace: _Optional[str] = ..., package_name: _Optional[str] = ..., action_name: _Optional[str] = ..., payload: _Optional[str] = ..., method: _Optional[str] = ..., headers: _Optional[_Mapping[str, str]] = ...) -> None: ...

class InvokeWebActionResponse(_message.Message):
    __slots__ = ("success", "status_code", "response", "response_headers", "error")
    class ResponseHeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_HEADERS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    success: bool
    status_code: int
    response: str
    response_headers: _containers.ScalarMap[str, str]
    error: str
    def __init__(self, success: _Optional[bool] = ..., status_code: _Optional[int] = ..., response: _Optional[str] = ..., response_headers: _Optional[_Mapping[str, str]] = ..., error: _Optional[str] = ...) -> None: ...

class FireTriggerRequest(_message.Message):
    __slots__ = ("namespace", "trigger_name", "payload")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    TRIGGER_NAME_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    trigger_name: str
    payload: str
    def __init__(self, namespace: _Optional[str] = ..., trigger_name: _Optional[str] = ..., payload: _Optional[str] = ...) -> None: ...

class FireTriggerResponse(_message.Message):
    __slots__ = ("success", "activation_id", "error")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    success: bool
    activation_id: str
    error: str
    def __init__(self, success: _Optional[bool] = ..., activation_id: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class GetActivationRequest(_message.Message):
    __slots__ = ("namespace", "activation_id")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_ID_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    activation_id: str
    def __init__(self, namespace: _Optional[str] = ..., activation_id: _Optional[str] = ...) -> None: ...

class GetActivationResponse(_message.Message):
    __slots__ = ("success", "activation_id", "result", "duration", "status", "logs", "error")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ACTIVATION_ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LOGS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    success: bool
    activation_id: str
    result: str
    duration: int
    status: str
    logs: _containers.RepeatedScalarFieldContainer[str]
    error: str
    def __init__(self, success: _Optional[bool] = ..., activation_id: _Optional[str] = ..., result: _Optional[str] = ..., duration: _Optional[int] = ..., status: _Optional[str] = ..., logs: _Optional[_Iterable[str]] = ..., error: _Optional[str] = ...) -> None: ...

class ListActionsRequest(_message.Message):
    __slots__ = ("namespace", "limit", "skip")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    SKIP_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    limit: int
    skip: int
    def __init__(self, namespace: _Optional[str] = ..., limit: _Optional[int] = ..., skip: _Optional[int] = ...) -> None: ...

class ListActionsResponse(_message.Message):
    __slots__ = ("success", "actions", "error")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    success: bool
    actions: _containers.RepeatedCompositeFieldContainer[ActionInfo]
    error: str
    def __init__(self, success: _Optional[bool] = ..., actions: _Optional[_Iterable[_Union[ActionInfo, _Mapping]]] = ..., error: _Optional[str] = ...) -> None: ...

class ActionInfo(_message.Message):
    __slots__ = ("name", "namespace", "version", "published")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PUBLISHED_FIELD_NUMBER: _ClassVar[int]
    name: str
    namespace: str
    version: str
    published: bool
    def __init__(self, name: _Optional[str] = ..., namespace: _Optional[str] = ..., version: _Optional[str] = ..., published: _Optional[bool] = ...) -> None: ...
