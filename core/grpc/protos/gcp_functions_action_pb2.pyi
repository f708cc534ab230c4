from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class InvokeFunctionRequest(_message.Message):
    __slots__ = ("project", "region", "function_name", "payload", "headers", "request_id", "timestamp")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_NAME_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    project: str
    region: str
    function_name: str
    payload: str
    headers: _containers.ScalarMap[str, str]
    request_id: str
    timestamp: int
    def __init__(self, project: _Optional[str] = ..., region: _Optional[str] = ..., function_name: _Optional[str] = ..., payload: _Optional[str] = ..., headers: _Optional[_Mapping[str, str]] = ..., request_id: _Optional[str] = ..., timestamp: _Optional[int] = ...) -> None: ...

class InvokeFunctionResponse(_message.Message):
    __slots__ = ("success", "status_code", "response", "error", "execution_id", "execution_time_ms")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    success: bool
    status_code: int
    response: str
    error: str
    execution_id: str
    execution_time_ms: int
    def __init__(self, success: _Optional[bool] = ..., status_code: _Optional[int] = ..., response: _Optional[str] = ..., error: _Optional[str] = ..., execution_id: _Optional[str] = ..., execution_time_ms: _Optional[int] = ...) -> None: ...

class InvokeHTTPRequest(_message.Message):
    __slots__ = ("url", "payload", "method", "headers", "timeout", "request_id", "timestamp")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    URL_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    url: str
    payload: str
    method: str
    headers: _containers.ScalarMap[str, str]
    timeout: int
    request_id: str
    timestamp: int
    def __init__(self, url: _Optional[str] = ..., payload: _Optional[str] = ..., method: _Optional[str] = ..., headers: _Optional[_Mapping[str, str]] = ..., timeout: _Optional[int] = ..., request_id: _Optional[str] = ..., timestamp: _Optional[int] = ...) -> None: ...

class InvokeHTTPResponse(_message.Message):
    __slots__ = ("success", "status_code", "response", "response_headers", "error", "execution_time_ms")
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
    EXECUTION_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    success: bool
    status_code: int
    response: str
    response_headers: _containers.ScalarMap[str, str]
    error: str
    execution_time_ms: int
    def __init__(self, success: _Optional[bool] = ..., status_code: _Optional[int] = ..., response: _Optional[str] = ..., response_headers: _Optional[_Mapping[str, str]] = ..., error: _Optional[str] = ..., execution_time_ms: _Optional[int] = ...) -> None: ...

class BatchInvokeRequest(_message.Message):
    __slots__ = ("invocations",)
    INVOCATIONS_FIELD_NUMBER: _ClassVar[int]
    invocations: _containers.RepeatedCompositeFieldContainer[InvokeFunctionRequest]
    def __init__(self, invocations: _Optional[_Iterable[_Union[InvokeFunctionRequest, _Mapping]]] = ...) -> None: ...

class BatchInvokeResponse(_message.Message):
    __slots__ = ("responses", "total_count", "success_count", "failure_count")
    RESPONSES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_COUNT_FIELD_NUMBER: _ClassVar[int]
    FAILURE_COUNT_FIELD_NUMBER: _ClassVar[int]
    responses: _containers.RepeatedCompositeFieldContainer[InvokeFunctionResponse]
    total_count: int
    success_count: int
    failure_count: int
    def __init__(self, responses: _Optional[_Iterable[_Union[InvokeFunctionResponse, _Mapping]]] = ..., total_count: _Optional[int] = ..., success_count: _Optional[int] = ..., failure_count: _Optional[int] = ...) -> None: ...

class ListFunctionsRequest(_message.Message):
    __slots__ = ("project", "region")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    project: str
    region: str
    def __init__(self, project: _Optional[str] = ..., region: _Optional[str] = ...) -> None: ...

class ListFunctionsResponse(_message.Message):
    __slots__ = ("functions",)
    FUNCTIONS_FIELD_NUMBER: _ClassVar[int]
    functions: _containers.RepeatedCompositeFieldContainer[FunctionInfo]
    def __init__(self, functions: _Optional[_Iterable[_Union[FunctionInfo, _Mapping]]] = ...) -> None: ...

class GetFunctionDetailsRequest(_message.Message):
    __slots__ = ("project", "region", "function_name")
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_NAME_FIELD_NUMBER: _ClassVar[int]
    project: str
    region: str
    function_name: str
    def __init__(self, project: _Optional[str] = ..., region: _Optional[str] = ..., function_name: _Optional[str] = ...) -> None: ...

class GetFunctionDetailsResponse(_message.Message):
    __slots__ = ("success", "function", "error")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    FUNCTION_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    success: bool
    function: FunctionInfo
    error: str
    def __init__(self, success: _Optional[bool] = ..., function: _Optional[_Union[FunctionInfo, _Mapping]] = ..., error: _Optional[str] = ...) -> None: ...

class FunctionInfo(_message.Message):
    __slots__ = ("name", "status", "runtime", "entry_point", "url", "description", "timeout", "memory_mb", "environment_variables", "service_account")
    class EnvironmentVariablesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    ENTRY_POINT_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_VARIABLES_FIELD_NUMBER: _ClassVar[int]
    SERVICE_ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    status: str
    runtime: str
    entry_point: str
    url: str
    description: str
    timeout: int
    memory_mb: int
    environment_variables: _containers.ScalarMap[str, str]
    service_account: str
    def __init__(self, name: _Optional[str] = ..., status: _Optional[str] = ..., runtime: _Optional[str] = ..., entry_point: _Optional[str] = ..., url: _Optional[str] = ..., description: _Optional[str] = ..., timeout: _Optional[int] = ..., memory_mb: _Optional[int] = ..., environment_variables: _Optional[_Mapping[str, str]] = ..., service_account: _Optional[str] = ...) -> None: ...
