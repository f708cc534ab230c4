"""The cold-start baseline: a typical FastAPI-on-Lambda service doing what fnproxy's invoke does.

Its module imports FastAPI, Mangum, aws-lambda-powertools, boto3, pyjwt and aiohttp; `build()`
then eagerly creates a powertools Logger, Metrics and Tracer, five boto3 clients (no network:
the caller gives region and dummy credentials in the environment) and the Mangum handler, as
such a service does at module level. Its POST /v1/invoke verifies the JWT with pyjwt, calls the
HTTP function with aiohttp, inserts one row into SQLite and answers JSON.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import boto3
from _baseline_parts import InvokeBody, verify
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from fastapi import FastAPI, Header
from mangum import Mangum

AWS_SERVICES = ("lambda", "dynamodb", "sns", "sqs", "secretsmanager")
REGION = "us-east-1"
SCHEMA = ("CREATE TABLE IF NOT EXISTS executions (execution_id TEXT PRIMARY KEY, "
          "function TEXT NOT NULL, status TEXT NOT NULL, created_at REAL NOT NULL, body TEXT)")
INSERT = "INSERT INTO executions VALUES (?, ?, ?, ?, ?)"


def open_database(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(SCHEMA)
    return conn


def make_tracer() -> Tracer | None:
    """powertools' Tracer needs aws-xray-sdk (`aws-lambda-powertools[tracer]`); without it the
    baseline goes without a tracer, which only makes it lighter (the parent says so)."""
    try:
        return Tracer(service="baseline")
    except ModuleNotFoundError:
        return None


def build(key: str, db_path: Path) -> tuple[FastAPI, Mangum]:
    logger = Logger(service="baseline")
    metrics = Metrics(namespace="bench", service="baseline")
    make_tracer()
    aws = {name: boto3.client(name, region_name=REGION) for name in AWS_SERVICES}
    assert len(aws) == len(AWS_SERVICES)
    db = open_database(db_path)
    http: dict[str, aiohttp.ClientSession] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        if "session" in http:
            await http["session"].close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/v1/invoke")
    async def invoke(body: InvokeBody, authorization: str = Header()) -> dict[str, Any]:
        claims = verify(authorization, key)
        if "session" not in http:
            http["session"] = aiohttp.ClientSession()
        session = http["session"]
        async with session.post(body.target.url, json=body.payload) as response:
            status, result = response.status, await response.json()
        execution_id = uuid.uuid4().hex
        record = {"caller": claims["sub"], "result": result, "status_code": status}
        db.execute(INSERT, (execution_id, body.target.url, "succeeded", time.time(), str(record)))
        metrics.add_metric(name="Invocations", unit=MetricUnit.Count, value=1)
        logger.info("invoked", extra={"execution_id": execution_id})
        return {"execution_id": execution_id, "status": "succeeded", "success": status < 400,
                "status_code": status, "result": result}

    return app, Mangum(app, lifespan="off")
