"""Noisy: prints to stdout, waits event["pause_s"] (default 0), prints to stderr; for logs."""

import sys
import time


def handler(event, context):
    event = event or {}
    tag = event.get("tag", "noisy")
    print(f"{tag}: to stdout")
    time.sleep(float(event.get("pause_s", 0)))
    print(f"{tag}: to stderr", file=sys.stderr)
    return "ok"
