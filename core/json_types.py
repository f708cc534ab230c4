"""Request field types that read JSON as JSON Schema does, under pydantic's strict mode."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field


def _whole_float_as_int(value: Any) -> Any:
    """2.0 as 2: JSON Schema's `integer` is any number with no fraction, and strict mode
    would refuse a float for an int. Anything else (2.5, true, "2") goes on to be refused."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def whole_number(**bounds: int) -> Any:
    """An `integer` of the document within `bounds` (Field's ge, gt, le, lt): 2 and 2.0 alike,
    never 2.5, true or "2". The bounds come before the conversion so that the document states
    them as minimum/maximum."""
    return Annotated[int, Field(**bounds), BeforeValidator(_whole_float_as_int)]
