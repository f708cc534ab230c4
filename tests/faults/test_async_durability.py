"""Accepted async work against a live `fnproxy serve` (platform local, SQLite) that is killed,
stopped and wedged, with a loopback listener as the target and the callback receiver.

Before: the local queue lived in memory. After kill -9, 192 of 200 accepted invocations ended
failed "Abandoned" at the restart, and after a SIGTERM 49 of 60 did; none ran, none got its
event, stats count or callback. A sync call's Idempotency-Key stayed claimed for a day after a
crash (409 "still being accepted"), and 8 hanging async calls held every worker slot (an
unrelated echo waited 20.6 s). Now the queued records are the queue: every accepted invocation
runs after a restart, once (a run cut by the kill runs again, counted as a lease takeover), with
one event, one stats count and one callback each. Run with `-s` to see the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.errors import ServiceUnavailable
from core.invoke.service import InvocationRequest
from core.targets import LocalTarget
from core.wiring import build_services
from tests.api.conftest import api_settings
from tests.queue_support import ADMIN, queue_async_invocation
from tests.security.support import LOCAL_PLATFORM, Listener, Server, start_server

EVENT_PREFIX = "dev.fnproxy.invocation."
ID_HEADER = "x-fnproxy-execution-id"


@pytest.fixture
def listener() -> Iterator[tuple[Listener, dict[str, float]]]:
    """The target (`/work`, answering after `delays["/work"]` s) and callback receiver
    (`/hook`, after `delays["/hook"]` s)."""
    delays = {"/work": 0.0, "/hook": 0.0}

    def after_delay(path: str) -> Callable[[Any], None]:
        def route(handler: Any) -> None:
            time.sleep(delays[path])
            with contextlib.suppress(ConnectionError):  # its caller was killed or gave up
                handler.answer(200, {"ok": True})

        return route

    server = Listener(routes={path: after_delay(path) for path in delays}).start()
    yield server, delays
    server.stop()


def serve(data_dir: Path, **env: str) -> Server:
    return start_server(
        data_dir, {**LOCAL_PLATFORM, "EXECUTION_LEASE_S": "1", "MAX_RETRIES": "0", **env}
    )


def accept(server: Server, headers: dict[str, str], count: int, **request: Any) -> list[str]:
    ids = []
    with server.http() as http:
        for n in range(count):
            body = {"mode": "async", "payload": {"n": n}, **request}
            answer = http.post("/v1/invoke", json=body, headers=headers)
            assert answer.status_code == 202, answer.text
            ids.append(answer.json()["execution_id"])
    return ids


def records(server: Server, headers: dict[str, str], ids: list[str]) -> list[dict[str, Any]]:
    with server.http() as http:
        return [http.get(f"/v1/invocations/{i}", headers=headers).json() for i in ids]


def eventually(read: Callable[[], Any], done: Callable[[Any], bool], within_s: float) -> Any:
    """What `read` returns once `done` holds for it, read every 0.5 s for up to `within_s` s
    (the last reading is in the failure)."""
    deadline = time.monotonic() + within_s
    while True:
        found = read()
        if done(found):
            return found
        assert time.monotonic() < deadline, found
        time.sleep(0.5)


def until_ended(server: Server, headers: dict[str, str], ids: list[str], within_s: float):
    return eventually(
        lambda: records(server, headers, ids),
        lambda found: all(r["status"] not in ("queued", "running") for r in found),
        within_s,
    )


def until_called_back(server: Server, headers: dict[str, str], ids: list[str], within_s: float):
    """The records once each has its callback's outcome, written after the callback (which
    follows the stored outcome: the record ends before its callback is sent)."""
    return eventually(
        lambda: records(server, headers, ids),
        lambda found: all(r["callback_result"] is not None for r in found),
        within_s,
    )


def published(*logs: str) -> Counter[str]:
    """Outcome events per execution id in the servers' logs (the local bus logs each one)."""
    counts: Counter[str] = Counter()
    for log in logs:
        for line in log.splitlines():
            if line.startswith('{"specversion"') and EVENT_PREFIX in line:
                counts[json.loads(line)["data"]["execution_id"]] += 1
    return counts


def stats_count(server: Server, headers: dict[str, str], function: str) -> int:
    with server.http() as http:
        answer = http.get("/v1/stats", params={"function": function}, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["count"]


def work_target(listener: Listener) -> dict[str, str]:
    return {"provider": "http", "url": f"{listener.url}/work"}


def test_kill_9_with_200_queued_runs_each_once_after_the_restart(tmp_path, listener):
    target, delays = listener
    data_dir = tmp_path / "data"
    delays["/work"] = 1.0
    first = serve(data_dir, ASYNC_WORKERS="2")
    try:
        headers = first.admin()
        ids = accept(first, headers, 200, target=work_target(target))
    finally:
        first.process.send_signal(signal.SIGKILL)
        first.process.wait()
    cut_short = {r.headers[ID_HEADER] for r in target.hits("/work")}
    first_log = first.log
    delays["/work"] = 0.0

    second = serve(data_dir, ASYNC_WORKERS="8")
    try:
        headers = second.admin()
        ended = until_ended(second, headers, ids, within_s=60)
        runs = Counter(r.headers[ID_HEADER] for r in target.hits("/work"))
        # the event and the stats count follow each stored outcome, so they may trail it
        events = eventually(lambda: published(first_log, second.log), Counter(ids).__eq__, 10)
        function = ended[0]["function"]
        counted = eventually(lambda: stats_count(second, headers, function), (200).__eq__, 10)
    finally:
        second.stop()

    print(f"\nkill -9 with 200 accepted: {len(cut_short)} started before the kill; after the"
          f" restart {Counter(r['status'] for r in ended)}, runs {sum(runs.values())},"
          f" events {sum(events.values())}, stats {counted}")
    assert [r["status"] for r in ended] == ["succeeded"] * 200
    assert set(runs) == set(ids)  # every accepted invocation ran
    again = {i for i, n in runs.items() if n > 1}
    assert again <= cut_short and len(again) <= 2  # only runs the kill cut short ran twice
    assert all(r["lease_takeovers"] == (r["execution_id"] in again) for r in ended)
    assert events == Counter(ids)  # one event each
    assert counted == 200


def test_sigterm_finishes_what_runs_and_the_restart_runs_the_rest_with_callbacks(
    tmp_path, listener
):
    target, delays = listener
    data_dir = tmp_path / "data"
    delays["/work"] = 0.3
    request = {"target": work_target(target), "callback_url": f"{target.url}/hook"}
    first = serve(data_dir, ASYNC_WORKERS="2", SHUTDOWN_GRACE_S="5")
    headers = first.admin()
    ids = accept(first, headers, 30, **request)
    first.process.send_signal(signal.SIGTERM)
    first.process.wait(timeout=20)
    called_back_at_stop = len(target.hits("/hook"))

    second = serve(data_dir, ASYNC_WORKERS="2")
    try:
        headers = second.admin()
        ended = until_called_back(second, headers, ids, within_s=30)
    finally:
        second.stop()

    callbacks = Counter(json.loads(r.body)["execution_id"] for r in target.hits("/hook"))
    print(f"\nSIGTERM with 30 accepted: {called_back_at_stop} called back before the stop,"
          f" all {len(callbacks)} after the restart, {sum(callbacks.values())} callbacks")
    assert [r["status"] for r in ended] == ["succeeded"] * 30
    assert callbacks == Counter(ids)  # every callback, once
    assert all(r["callback_result"]["delivered"] for r in ended)


def test_a_stop_cuts_a_run_past_the_grace_and_queues_it_again(tmp_path, listener):
    target, delays = listener
    data_dir = tmp_path / "data"
    delays["/work"] = 30.0
    first = serve(data_dir, SHUTDOWN_GRACE_S="1")
    headers = first.admin()
    [execution_id] = accept(first, headers, 1, target=work_target(target))
    while not target.hits("/work"):
        time.sleep(0.05)
    started = time.monotonic()
    first.process.send_signal(signal.SIGTERM)
    first.process.wait(timeout=20)
    stop_s = time.monotonic() - started
    delays["/work"] = 0.0

    second = serve(data_dir)
    try:
        [ended] = until_ended(second, second.admin(), [execution_id], within_s=15)
    finally:
        second.stop()
    assert stop_s < 5, stop_s
    assert ended["status"] == "succeeded" and len(target.hits("/work")) == 2


def test_an_idempotency_key_runs_again_after_a_kill_9_mid_call(tmp_path, listener):
    target, delays = listener
    data_dir = tmp_path / "data"
    delays["/work"] = 30.0
    body = {"target": work_target(target), "payload": {"order": 17}, "timeout_s": 2}
    first = serve(data_dir)
    headers = {**first.admin(), "Idempotency-Key": "order-17"}
    call = threading.Thread(target=_post_quietly, args=(first, body, headers), daemon=True)
    call.start()
    while not target.hits("/work"):
        time.sleep(0.05)
    os.kill(first.process.pid, signal.SIGKILL)
    first.process.wait()
    delays["/work"] = 0.0

    second = serve(data_dir)
    try:
        headers = {**second.admin(), "Idempotency-Key": "order-17"}
        answers = _until_not_409(second, body, headers, within_s=15)
    finally:
        second.stop()
    print(f"\nIdempotency-Key after kill -9: {len(answers) - 1} answers 409, then"
          f" {answers[-1]}")
    assert answers[-1] == 200 and len(target.hits("/work")) == 2


def _post_quietly(server: Server, body: dict[str, Any], headers: dict[str, str]) -> None:
    try:
        with server.http() as http:
            http.post("/v1/invoke", json=body, headers=headers)
    except httpx.HTTPError:
        pass  # the server was killed mid-call


def _until_not_409(server: Server, body: dict[str, Any], headers: dict[str, str], within_s):
    answers = []
    deadline = time.monotonic() + within_s
    with server.http() as http:
        while time.monotonic() < deadline:
            answers.append(http.post("/v1/invoke", json=body, headers=headers).status_code)
            if answers[-1] != 409:
                break
            time.sleep(0.5)
    return answers


def test_a_hanging_target_and_a_hanging_callback_delay_only_their_own(tmp_path, listener):
    target, delays = listener
    delays["/work"] = delays["/hook"] = 10.0
    server = serve(tmp_path / "data", ASYNC_WORKERS="1")
    try:
        headers = server.admin()
        accept(server, headers, 1, target=work_target(target))
        echo = {"target": {"provider": "local", "function": "echo"}}
        accept(server, headers, 1, callback_url=f"{target.url}/hook", **echo)
        started = time.monotonic()
        [echoed] = accept(server, headers, 1, **echo)
        until_ended(server, headers, [echoed], within_s=5)
        waited_s = time.monotonic() - started
    finally:
        server.stop()
    print(f"\nan async echo behind a hanging target and a hanging callback: {waited_s:.2f} s")
    assert waited_s < 5


# --- in-process: recovery pages through everything; a failed save tells nothing ----------


async def test_a_start_runs_every_queued_execution_past_any_page(tmp_path):
    """Before: the restart clean-up read 1,000 records per status; 292 of 1,300 stayed queued."""
    stopped = build_services(api_settings(tmp_path))
    for _ in range(1300):
        await queue_async_invocation(stopped, "x")  # never started: they wait in the store
    await stopped.close()
    services = build_services(api_settings(tmp_path, ASYNC_WORKERS="16"))
    try:
        services.queue.start(services.worker.handle)
        await asyncio.wait_for(_until_none_open(services), timeout=60)
        done = await services.store.stats.read(
            [int(time.time() // 3600) * 3600], "local:echo"
        )
    finally:
        await services.close()
    assert [(rollup.count, rollup.failures) for rollup in done] == [(1300, 0)]


async def _until_none_open(services) -> None:
    while (await services.store.executions.list_runnable(time.time() + 3600, 1)).items:
        await services.queue.drain()
        await asyncio.sleep(0.2)


async def test_an_outcome_the_store_refused_is_never_published(tmp_path, monkeypatch):
    """Before: with the disk full, 405 "succeeded" events went out for 5 stored records."""
    services = build_services(api_settings(tmp_path))
    events = []

    async def collect(event) -> None:
        events.append(event)

    async def disk_full(*args: Any, **kwargs: Any) -> bool:
        raise OSError(28, "No space left on device")

    services.events.subscribe(collect)
    monkeypatch.setattr(services.store.executions, "save", disk_full)
    try:
        with pytest.raises(ServiceUnavailable):
            await services.invocations.invoke(
                InvocationRequest(target=LocalTarget(provider="local", function="echo")), ADMIN
            )
    finally:
        await services.close()
    assert events == []
