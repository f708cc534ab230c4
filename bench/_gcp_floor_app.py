"""The floor of (c-gcp): the least any Cloud Function built on the chosen Google clients can do
for fnproxy's first POST /v1/invoke - a lower bound, not a service.

    functions-framework --target=http --source=bench/_gcp_floor_app.py

It imports only functions-framework, the Firestore client and the Pub/Sub client. On the first
request (lazily, the best case) it makes `firestore.AsyncClient` and `pubsub_v1.PublisherClient`;
on each it writes one execution document, adds one to a stats counter with `firestore.Increment`,
publishes one outcome event to EVENTS_TOPIC, waits for it, and answers JSON `{"success": true}`
(functions-framework makes the dict a JSONResponse). It verifies no JWT and does not call the
function: what it costs is the clients' and functions-framework's own, which fnproxy pays too.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import time
import uuid
from typing import Any

import functions_framework.aio
from google.cloud import firestore, pubsub_v1
from starlette.requests import Request


@functools.cache
def clients() -> tuple[firestore.AsyncClient, pubsub_v1.PublisherClient]:
    """Made on the first request, on the server's event loop."""
    project = os.environ["GOOGLE_CLOUD_PROJECT"]
    return firestore.AsyncClient(project=project), pubsub_v1.PublisherClient()


@functions_framework.aio.http
async def http(request: Request) -> dict[str, Any]:
    db, publisher = clients()
    body = await request.json()
    execution_id = uuid.uuid4().hex
    record = {"function": body["target"]["url"], "status": "succeeded", "created_at": time.time()}
    await db.collection("floor-executions").document(execution_id).set(record)
    await db.collection("floor-stats").document("all").set(
        {"count": firestore.Increment(1)}, merge=True
    )
    event = {"type": "invocation.completed", "execution_id": execution_id, **record}
    data = json.dumps(event).encode()
    await asyncio.wrap_future(publisher.publish(os.environ["EVENTS_TOPIC"], data))
    return {"execution_id": execution_id, "success": True}
