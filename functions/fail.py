"""Fail: always raises ValueError with event["message"]; for error handling."""


def handler(event, context):
    raise ValueError((event or {}).get("message", "failed on purpose"))
