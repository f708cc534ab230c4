"""Slow: sleeps event["seconds"] (default 1), then returns the event; for timeouts."""

import time


def handler(event, context):
    time.sleep(float((event or {}).get("seconds", 1)))
    return event
