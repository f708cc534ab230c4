"""The seed routes' answers (JSON-ready dicts) as the seeds' protobuf messages, and their JSON
text fields as values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from core.api.compat._seed import event_from_text
from core.errors import InvalidRequest


def json_text(value: Any) -> str:
    """A result as the seeds' JSON text ("" for none)."""
    return "" if value is None else orjson.dumps(value).decode()


EMPTY_PAYLOAD = "{}"
"""A request's `payload` left empty: proto3 cannot tell it from one left out."""


def payload_value(text: str) -> Any:
    """A request's `payload` as the value it stands for (`event_from_text`)."""
    try:
        return event_from_text(text or EMPTY_PAYLOAD)
    except ValueError as refused:
        raise InvalidRequest(f"payload: {refused}") from None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json_text(value)


def _scalar(field: FieldDescriptor, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_STRING:
        return _text(value)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return bool(value)
    return round(value)  # the seeds' numbers are int32/int64: milliseconds, seconds, counts


def message(cls: type[Message], values: Mapping[str, Any]) -> Message:
    """A `cls` with every scalar, repeated scalar and string map field that `values` has a
    value for (None, and names the message lacks, are left out): strings as they are, other
    values as JSON text; numbers rounded to whole ones. Message-typed fields are the caller's."""
    fields = cls.DESCRIPTOR.fields_by_name
    built = cls()
    for name, value in values.items():
        field = fields.get(name)
        if field is None or value is None:
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            getattr(built, name).update({str(k): _text(v) for k, v in value.items()})
        elif field.message_type is not None:
            continue
        elif field.is_repeated:
            getattr(built, name).extend(_scalar(field, item) for item in value)
        else:
            setattr(built, name, _scalar(field, value))
    return built
