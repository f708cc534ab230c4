from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InvokeFunctionRequest(_message.Message):
    __slots__ = ("function_name", "payload", "invocation_type", "alias", "version", "token")
    FUNCTION_NAME_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    INVOCATION_TYPE_FIELD_NUMBER: _ClassVar[int]
    ALIAS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    function_name: str
    payload: str
    invocation_type: str
    alias: str
    version: str
    token: str
    def __init__(self, function_name: _Optional[str] = ..., payload: _Optional[str] = ..., invocation_type: _Optional[str] = ..., alias: _Optional[str] = ..., version: _Optional[str] = ..., token: _Optional[str] = ...) -> None: ...

class InvokeFunctionResponse(_message.Message):
    __slots__ = ("success", "status_code", "payload", "function_error", "log_result", "executed_version", "error")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_ERROR_FIELD_NUMBER: _ClassVar[int]
    LOG_RESULT_FIELD_NUMBER: _ClassVar[int]
    EXECUTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    success: bool
    status_code: int
    payload: str
    function_error: str
    log_result: str
    executed_version: str
    error: str
    def __init__(self, success: _Optional[bool] = ..., status_code: _Optional[int] = ..., payload: _Optional[str] = ..., function_error: _Optional[str] = ..., log_result: _Optional[str] = ..., executed_version: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class InvokeAsyncRequest(_message.Message):
    __slots__ = ("function_name", "payload", "token")
    FUNCTION_NAME_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    function_name: str
    payload: str
    token: str
    def __init__(self, function_name: _Optional[str] = ..., payload: _Optional[str] = ..., token: _Optional[str] = ...) -> None: ...

class InvokeAsyncResponse(_message.Message):
    __slots__ = ("success", "status_code", "request_id", "error")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    success: bool
    status_code: int
    request_id: str
    error: str
    def __init__(self, success: _Optional[bool] = ..., status_code: _Optional[int] = ..., request_id: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class BatchInvokeRequest(_message.Message):
    __slots__ = ("invocations", "token")
    INVOCATIONS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    invocations: _containers.RepeatedCompositeFieldContainer[InvokeFunctionRequest]
    token: str
    def __init__(self, invocations: _Optional[_Iterable[_Union[InvokeFunctionRequest, _Mapping]]] = ..., token: _Optional[str] = ...) -> None: ...

class BatchInvokeResponse(_message.Message):
    __slots__ = ("responses",)
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    responses: _containers.RepeatedCompositeFieldContainer[InvokeFunctionResponse]
    def __init__(self, responses: _Optional[_Iterable[_Union[InvokeFunctionResponse, _Mapping]]] = ...) -> None: ...

class ListFunctionsRequest(_message.Message):
    __slots__ = ("token", "max_items", "next_marker")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    MAX_ITEMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_MARKER_FIELD_NUMBER: _ClassVar[int]
    token: str
    max_items: int
    next_marker: str
    def __init__(self, token: _Optional[str] = ..., max_items: _Optional[int] = ..., next_marker: _Optional[str] = ...) -> None: ...

class ListFunctionsResponse(_message.Message):
    __slots__ = ("success", "functions", "next_marker", "error")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    FUNCTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_MARKER_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    success: bool
    functions: _containers.RepeatedCompositeFieldContainer[FunctionInfo]
    next_marker: str
    error: str
    def __init__(self, success: _Optional[bool] = ..., functions: _Optional[_Iterable[_Union[FunctionInfo, _Mapping]]] = ..., next_marker: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class FunctionInfo(_message.Message):
    __slots__ = ("function_name", "function_arn", "runtime", "role", "handler", "code_size", "description", "timeout", "memory_size", "last_modified", "version")
    FUNCTION_NAME_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_ARN_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    HANDLER_FIELD_NUMBER: _ClassVar[int]
    CODE_SIZE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_SIZE_FIELD_NUMBER: _ClassVar[int]
    LAST_MODIFIED_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    function_name: str
    function_arn: str
    runtime: str
    role: str
    handler: str
    code_size: int
    description: str
    timeout: int
    memory_size: int
    last_modified: str
    version: str
    def __init__(self, function_name: _Optional[str] = ..., function_arn: _Optional[str] = ..., runtime: _Optional[str] = ..., role: _Optional[str] = ..., handler: _Optional[str] = ..., code_size: _Optional[int] = ..., description: _Optional[str] = ..., timeout: _Optional[int] = ..., memory_size: _Optional[int] = ..., last_modified: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class GetFunctionConfigRequest(_message.Message):
    __slots__ = ("function_name", "token")
    FUNCTION_NAME_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    function_name: str
    token: str
    def __init__(self, function_name: _Optional[str] = ..., token: _Optional[str] = ...) -> None: ...

class GetFunctionConfigResponse(_message.Message):
    __slots__ = ("success", "function_info", "error")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_INFO_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    success: bool
    function_info: FunctionInfo
    error: str
    def __init__(self, success: _Optional[bool] = ..., function_info: _Optional[_Union[FunctionInfo, _Mapping]] = ..., error: _Optional[str] = ...) -> None: ...
