"""Hog: allocates and touches event["mb"] megabytes (default 64); for the memory cap."""


def handler(event, context):
    megabytes = int((event or {}).get("mb", 64))
    block = b"\xff" * (megabytes * 1024 * 1024)
    return {"allocated_mb": len(block) // (1024 * 1024)}
