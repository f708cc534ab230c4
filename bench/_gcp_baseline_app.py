"""The GCP-native cold-start baseline of (c-gcp): a FastAPI service on Cloud Functions written the
way a GCP user writes one, doing the work of fnproxy's POST /v1/invoke on GCP.

    functions-framework --target=http --source=bench/_gcp_baseline_app.py

At module level, as such services do, it imports functions-framework, FastAPI, pyjwt, httpx and
the Firestore, Pub/Sub and Secret Manager clients, creates the three clients eagerly, and reads
its key: from Secret Manager when MODULE_SECRET_KEY_SECRET names a secret, else from
MODULE_SECRET_KEY (fnproxy's settings). Google ships no Secret Manager emulator: with
SECRETMANAGER_EMULATOR_HOST the client talks to that test server over an insecure channel; the
Firestore and Pub/Sub clients follow FIRESTORE_EMULATOR_HOST and PUBSUB_EMULATOR_HOST themselves.

Its POST /v1/invoke verifies the JWT with pyjwt, calls the function by its URL with httpx,
writes the execution record and adds one to a stats counter in Firestore, publishes the outcome
event to EVENTS_TOPIC and answers JSON. functions-framework serves it as ASGI: the registered
function answers with the FastAPI app, which Starlette then calls with the request's own scope,
receive and send, as fnproxy's entry (handlers/gcp_function.py) does with its app.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from typing import Any

import functions_framework.aio
import grpc
import httpx
from _baseline_parts import InvokeBody, verify
from fastapi import FastAPI, Header
from google.cloud import firestore, pubsub_v1, secretmanager
from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
    SecretManagerServiceGrpcTransport,
)
from starlette.requests import Request


def secret_manager_client() -> secretmanager.SecretManagerServiceClient:
    host = os.environ.get("SECRETMANAGER_EMULATOR_HOST")
    if not host:
        return secretmanager.SecretManagerServiceClient()
    channel = grpc.insecure_channel(host)
    return secretmanager.SecretManagerServiceClient(
        transport=SecretManagerServiceGrpcTransport(channel=channel)
    )


def read_key(secrets: secretmanager.SecretManagerServiceClient) -> str:
    secret = os.environ.get("MODULE_SECRET_KEY_SECRET")
    if not secret:
        return os.environ["MODULE_SECRET_KEY"]
    version = secrets.access_secret_version(name=f"{secret}/versions/latest")
    return version.payload.data.decode()


db = firestore.AsyncClient(project=os.environ["GOOGLE_CLOUD_PROJECT"])
publisher = pubsub_v1.PublisherClient()
secrets = secret_manager_client()
http_client = httpx.AsyncClient()
KEY = read_key(secrets)
EVENTS_TOPIC = os.environ["EVENTS_TOPIC"]
executions = db.collection("baseline-executions")
stats = db.collection("baseline-stats")
app = FastAPI()


@app.post("/v1/invoke")
async def invoke(body: InvokeBody, authorization: str = Header()) -> dict[str, Any]:
    claims = verify(authorization, KEY)
    started = time.time()
    response = await http_client.post(body.target.url, json=body.payload)
    result, success = response.json(), response.status_code < 400
    execution_id = uuid.uuid4().hex
    record = {
        "caller": claims["sub"],
        "function": body.target.url,
        "status": "succeeded" if success else "failed",
        "status_code": response.status_code,
        "result": json.dumps(result),
        "created_at": started,
        "duration_ms": (time.time() - started) * 1000,
    }
    await executions.document(execution_id).set(record)
    await stats.document("all").set({"count": firestore.Increment(1)}, merge=True)
    event = {"type": "invocation.completed", "execution_id": execution_id, **record}
    await asyncio.wrap_future(publisher.publish(EVENTS_TOPIC, json.dumps(event).encode()))
    return {"execution_id": execution_id, "success": success, "result": result}


@functions_framework.aio.http
async def http(request: Request) -> FastAPI:
    return app
