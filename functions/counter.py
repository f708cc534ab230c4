"""Counter: counts the calls of one conversation, keeping the count in the session.

Invoked with a `session_id`, the event carries the session's data under "session"; the
"session" of the result becomes the session's new data.
"""


def handler(event, context):
    count = (event or {}).get("session", {}).get("count", 0) + 1
    return {"count": count, "session": {"count": count}}
