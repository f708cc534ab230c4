"""(e) Accounting under load: every invocation sent is answered, recorded, published and counted
in stats exactly once - sync, async and mixed (sync and async interleaved) - on the local stack
(`fnproxy serve`, SQLite, the in-process queue and event log), on the moto stack (the Lambda
handler over DynamoDB, SNS -> SQS events and the SQS work queue) and on the emulator stack
(functions-framework over Firestore, Pub/Sub events and the Pub/Sub work queue). A cloud stack
whose emulator is missing is skipped.

    .venv/bin/python bench/bench_accounting.py [--sync N] [--async N] [--mixed N]
                                               [--stacks local,aws,gcp] [--clients N]

sent: requests sent; answered: sync answers 200 with success, async answers 202; recorded:
executions of the answers that the history API lists in a final state; published: CloudEvents
of those executions (the local event log, an SQS queue subscribed to the events topic, a Pub/Sub
subscription to the events topic; a duplicate counts twice); stats: the growth of the stats
API's count over the run. The run passes when all five are equal.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, redirect_stdout
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from _common import (
    REPO_DIR,
    Goal,
    Options,
    Row,
    Server,
    Stack,
    child_env,
    fetch_token,
    fnproxy_command,
    free_port,
    machine_line,
    moto_server,
    new_secret_key,
    progress,
    spawn_function_server,
    spawn_server,
)

sys.path.insert(0, str(REPO_DIR))

FINAL = ("succeeded", "failed", "timed_out")
SETTLE_TIMEOUT_S = 60.0
QUIET_S = 1.0
"""How long a drained event source must stay empty before the count is taken."""
PAGE = 500
DELIVERY_CLIENTS = 8
"""Concurrent deliveries of the emulator stack's async messages, as Eventarc pushes them."""


@dataclass(frozen=True)
class Sizes:
    """The default runs in about a minute on the three stacks (moto's DynamoDB, one request at
    a time, is the slow part); `--sync 500 --async 200 --mixed 300` takes about three."""

    sync: int = 200
    async_: int = 100
    mixed: int = 100
    clients: int = 8


@dataclass(frozen=True)
class Phase:
    name: str
    modes: tuple[str, ...]
    """The mode of each invocation, in the order they are sent."""


def phases(sizes: Sizes) -> list[Phase]:
    mixed = tuple("sync" if n % 2 == 0 else "async" for n in range(sizes.mixed))
    return [
        Phase("sync", ("sync",) * sizes.sync),
        Phase("async", ("async",) * sizes.async_),
        Phase("mixed", mixed),
    ]


class Deployment(Protocol):
    name: str

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]: ...
    def invoke_body(self, mode: str) -> dict[str, Any]: ...
    def deliver_queued(self) -> int: ...
    def drain_events(self) -> list[dict[str, Any]]: ...


# --- the accounting, the same on every stack ---------------------------------------------------


@dataclass
class Tally:
    stack: str
    phase: str
    sent: int
    answered: int = 0
    recorded: int = 0
    published: int = 0
    stats: int = 0
    seconds: float = 0.0

    @property
    def counts(self) -> tuple[int, int, int, int, int]:
        return (self.sent, self.answered, self.recorded, self.published, self.stats)

    @property
    def equal(self) -> bool:
        return len(set(self.counts)) == 1


def expected(mode: str, status: int, body: Any) -> bool:
    if mode == "async":
        return status == 202 and body.get("status") == "queued"
    return status == 200 and body.get("success") is True


def send_all(deployment: Deployment, phase: Phase, clients: int) -> list[str]:
    """Send the phase's invocations from `clients` threads: the execution ids of the answers
    that were what their mode promises."""

    def send(mode: str) -> str | None:
        status, body = deployment.call("POST", "/v1/invoke", deployment.invoke_body(mode))
        return body["execution_id"] if expected(mode, status, body) else None

    with ThreadPoolExecutor(clients) as pool:
        return [found for found in pool.map(send, phase.modes) if found]


def stats_count(deployment: Deployment, since: float) -> int:
    status, body = deployment.call("GET", f"/v1/stats?since={since:.0f}")
    assert status == 200, body
    return body["count"]


def recorded(deployment: Deployment, ids: set[str]) -> int:
    """How many of `ids` the history API lists in a final state (every page)."""
    found, cursor = 0, ""
    while True:
        query = f"/v1/invocations?limit={PAGE}" + (f"&cursor={cursor}" if cursor else "")
        status, page = deployment.call("GET", query)
        assert status == 200, page
        found += sum(
            1 for item in page["invocations"]
            if item["execution_id"] in ids and item["status"] in FINAL
        )
        cursor = page.get("next_cursor") or ""
        if not cursor:
            return found


def settle(deployment: Deployment, since: float, target: int) -> None:
    """Run what is queued until the stats count reaches `target`, or SETTLE_TIMEOUT_S."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while time.monotonic() < deadline:
        deployment.deliver_queued()
        if stats_count(deployment, since) >= target:
            return
        time.sleep(0.1)


def published(deployment: Deployment, ids: set[str], want: int) -> int:
    """The events of `ids`: drained until there are `want` and then QUIET_S without another
    (a duplicate would come then), or SETTLE_TIMEOUT_S."""
    count, quiet_since = 0, None
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while time.monotonic() < deadline:
        events = deployment.drain_events()
        count += sum(1 for event in events if event.get("data", {}).get("execution_id") in ids)
        if events or count < want:
            quiet_since = None if count < want else time.monotonic()
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= QUIET_S:
            return count
        time.sleep(0.05)
    return count


def account(deployment: Deployment, phase: Phase, since: float, clients: int) -> Tally:
    progress(f"  {deployment.name}: {phase.name} x{len(phase.modes)}")
    tally = Tally(deployment.name, phase.name, len(phase.modes))
    started = time.monotonic()
    before = stats_count(deployment, since)
    ids = set(send_all(deployment, phase, clients))
    tally.answered = len(ids)
    settle(deployment, since, before + len(ids))
    tally.seconds = time.monotonic() - started
    tally.recorded = recorded(deployment, ids)
    tally.published = published(deployment, ids, len(ids))
    tally.stats = stats_count(deployment, since) - before
    return tally


def run_stack(deployment: Deployment, sizes: Sizes) -> list[Tally]:
    since = time.time() - 60
    return [account(deployment, phase, since, sizes.clients) for phase in phases(sizes)]


# --- the local stack: fnproxy serve ----------------------------------------------------------


class HttpApi:
    """fnproxy's HTTP API at `url`, with an admin token."""

    def __init__(self, url: str, token: str) -> None:
        import httpx

        self._client = httpx.Client(
            base_url=url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
            limits=httpx.Limits(max_connections=64),
        )

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        answer = self._client.request(method, path, json=body)
        return answer.status_code, answer.json()

    def close(self) -> None:
        self._client.close()


class EventLog:
    """CloudEvents as the local event bus logs them (one JSON line each), read as they come."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._offset = 0

    def drain(self) -> list[dict[str, Any]]:
        with self._path.open("rb") as log:
            log.seek(self._offset)
            text = log.read()
        complete = text[: text.rfind(b"\n") + 1]
        self._offset += len(complete)
        return [event for event in map(_json_or_none, complete.splitlines()) if _is_event(event)]


def _json_or_none(line: bytes) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


def _is_event(document: Any) -> bool:
    return isinstance(document, dict) and "specversion" in document


@dataclass
class LocalDeployment:
    api: HttpApi
    events: EventLog
    function_url: str
    name: str = "local"

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return self.api.call(method, path, body)

    def invoke_body(self, mode: str) -> dict[str, Any]:
        target = {"provider": "http", "url": self.function_url}
        return {"target": target, "payload": {"n": 1}, "mode": mode}

    def deliver_queued(self) -> int:
        return 0  # the in-process worker runs them

    def drain_events(self) -> list[dict[str, Any]]:
        return self.events.drain()


@contextmanager
def local_stack(function_url: str, work_dir: Path) -> Iterator[LocalDeployment]:
    key, port = new_secret_key(), free_port()
    env = child_env(
        FNPROXY_PLATFORM="local",
        FNPROXY_DATA_DIR=str(work_dir / "data"),
        REST_PORT=str(port),
        LOG_LEVEL="INFO",
        MODULE_SECRET_KEY=key,
    )
    server = spawn_server("fnproxy-accounting", fnproxy_command(), env, port, work_dir)
    try:
        server.wait_ready("/health")
        api = HttpApi(server.url, fetch_token(server.url, key))
        try:
            yield LocalDeployment(api, EventLog(server.log_path), function_url)
        finally:
            api.close()
    finally:
        server.stop()


# --- the moto stack: the Lambda handler ------------------------------------------------------


class LambdaContainer:
    """`handlers.aws_lambda.handler` called as Lambda does: from one thread, one event at a
    time, configured by its environment only."""

    def __init__(self, environment: dict[str, str]) -> None:
        import handlers.aws_lambda as aws_lambda

        self._module = aws_lambda
        self._environment = environment
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="lambda-runtime")

    def invoke(self, event: dict[str, Any]) -> Any:
        from tests.aws.aws_stack import LambdaContext

        return self._thread.submit(self._module.handler, event, LambdaContext()).result(120)

    def close(self) -> None:
        def close_container() -> None:
            container = self._module._container
            if container is not None:
                container.loop.run_until_complete(container.services.close())
                container.loop.close()
                self._module._container = None

        self._thread.submit(close_container).result(60)
        self._thread.shutdown()


@dataclass
class AwsDeployment:
    stack: Any
    container: LambdaContainer
    token: str = ""
    name: str = "aws (moto)"

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        from tests.aws.aws_stack import http_api_event, response_json

        headers = {"authorization": f"Bearer {self.token}"} if self.token else {}
        bare, _, query = path.partition("?")
        response = self.container.invoke(http_api_event(method, bare, body, headers, query))
        return response["statusCode"], response_json(response)

    def invoke_body(self, mode: str) -> dict[str, Any]:
        target = {"provider": "aws_lambda", "function": self.stack.function_name}
        return {"target": target, "payload": {"n": 1}, "mode": mode}

    @cached_property
    def sqs(self) -> Any:
        return self.stack.client("sqs")

    def deliver_queued(self) -> int:
        """What SQS's event source mapping does: the waiting messages, in batches of 10, to the
        handler; those it names as failed are made visible again (until the redrive policy
        moves them to the dead-letter queue), the others deleted."""
        from tests.aws.aws_stack import sqs_event

        delivered, queue_url = 0, self.stack.queue_url
        while messages := self.sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, AttributeNames=["All"]
        ).get("Messages", []):
            answer = self.container.invoke(sqs_event(messages, self.stack.queue_arn(queue_url)))
            failed = {item["itemIdentifier"] for item in answer["batchItemFailures"]}
            for message in messages:
                handle = message["ReceiptHandle"]
                if message["MessageId"] in failed:
                    self.sqs.change_message_visibility(
                        QueueUrl=queue_url, ReceiptHandle=handle, VisibilityTimeout=0
                    )
                else:
                    self.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=handle)
            delivered += len(messages) - len(failed)
        return delivered

    def drain_events(self) -> list[dict[str, Any]]:
        messages = self.stack.receive(self.stack.events_queue_url, wait_s=0, count=10_000)
        return [json.loads(json.loads(message["Body"])["Message"]) for message in messages]


def moto_available() -> bool:
    try:
        import moto.server  # noqa: F401
    except ImportError:
        return False
    return True


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """`values` in os.environ for the block, the earlier values back after it."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def aws_stack(work_dir: Path) -> Iterator[AwsDeployment]:
    """The moto stack. powertools' metric lines (EMF, on stdout) are dropped, not tabled."""
    from tests.aws.aws_stack import create_stack
    from tests.conftest import AWS_TEST_ENV

    with ExitStack() as exits:
        moto = exits.enter_context(moto_server(work_dir))
        exits.enter_context(redirect_stdout(exits.enter_context(open(os.devnull, "w"))))
        exits.enter_context(environment(AWS_TEST_ENV))
        stack = create_stack(moto.url)
        exits.enter_context(environment(stack.environment(LOG_LEVEL="WARNING")))
        deployment = AwsDeployment(stack, LambdaContainer(stack.environment()))
        exits.callback(deployment.container.close)
        status, grant = deployment.call("POST", "/v1/auth/token", {"api_key": stack.module_key})
        assert status == 200, grant
        deployment.token = grant["access_token"]
        yield deployment


# --- the emulator stack: functions-framework -------------------------------------------------


@dataclass
class GcpDeployment:
    stack: Any
    api: HttpApi
    worker_url: str
    function_url: str
    subscriber: Any
    name: str = "gcp (emulators)"

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return self.api.call(method, path, body)

    def invoke_body(self, mode: str) -> dict[str, Any]:
        target = {"provider": "gcp_functions", "url": self.function_url}
        return {"target": target, "payload": {"n": 1}, "mode": mode}

    def deliver_queued(self) -> int:
        """What Eventarc does: each message of the async subscription POSTed to the worker,
        DELIVERY_CLIENTS at a time; acknowledged when it answers 200, else offered again."""
        delivered, subscription = 0, self.stack.async_subscription
        with ThreadPoolExecutor(DELIVERY_CLIENTS) as pool:
            while received := self._pull(subscription):
                results = list(zip(received, pool.map(self._deliver, received), strict=True))
                taken = [message for message, ok in results if ok]
                self._acknowledge(subscription, taken)
                self._offer_again(subscription, [message for message, ok in results if not ok])
                delivered += len(taken)
                if not taken:
                    break
        return delivered

    def drain_events(self) -> list[dict[str, Any]]:
        received = self._pull(self.stack.events_subscription)
        self._acknowledge(self.stack.events_subscription, received)
        return [json.loads(message.message.data) for message in received]

    def _deliver(self, message: Any) -> bool:
        import httpx

        from tests.gcp.gcp_stack import received_cloud_event

        subscription = self.stack.async_subscription
        headers, body = received_cloud_event(message, self.stack.async_topic, subscription, 1)
        answer = httpx.post(self.worker_url, headers=headers, content=body, timeout=120)
        return answer.status_code == 200

    def _pull(self, subscription: str) -> list[Any]:
        """What waits in `subscription` now (empty when nothing does), not acknowledged."""
        answer = self.subscriber.pull(
            subscription=subscription, max_messages=100, return_immediately=True, timeout=10
        )
        return list(answer.received_messages)

    def _acknowledge(self, subscription: str, received: list[Any]) -> None:
        if received:
            ack_ids = [message.ack_id for message in received]
            self.subscriber.acknowledge(subscription=subscription, ack_ids=ack_ids)

    def _offer_again(self, subscription: str, received: list[Any]) -> None:
        if received:
            ack_ids = [message.ack_id for message in received]
            self.subscriber.modify_ack_deadline(
                subscription=subscription, ack_ids=ack_ids, ack_deadline_seconds=0
            )


def google_sdk() -> Path | None:
    """The Google Cloud SDK's folder when gcloud and java are installed."""
    gcloud = shutil.which("gcloud")
    if gcloud is None or shutil.which("java") is None:
        return None
    completed = subprocess.run([gcloud, "info", "--format=value(installation.sdk_root)"],
                               capture_output=True, text=True, timeout=60)
    root = completed.stdout.strip()
    return Path(root) if completed.returncode == 0 and root else None


def spawn_emulators(sdk: Path, work_dir: Path, exits: ExitStack) -> dict[str, Server]:
    """The Firestore and Pub/Sub emulators, listening, stopped with `exits`. Each is java
    called directly, so that its process is the server and its CPU time the emulator's."""
    firestore_jar = sdk / "platform/cloud-firestore-emulator/cloud-firestore-emulator.jar"
    pubsub_jar = sorted((sdk / "platform/pubsub-emulator/lib").glob("*-all.jar"))[-1]
    firestore_port, pubsub_port = free_port(), free_port()
    main = "com.google.cloud.datastore.emulator.firestore.CloudFirestore"
    commands = {
        "firestore": (firestore_port, ["java", "-cp", str(firestore_jar), main, "start",
                                       "--host=127.0.0.1", f"--port={firestore_port}"]),
        "pubsub": (pubsub_port, ["java", "-jar", str(pubsub_jar), "--host=127.0.0.1",
                                 f"--port={pubsub_port}"]),
    }
    emulators = {}
    for name, (port, command) in commands.items():
        emulators[name] = spawn_server(name, command, child_env(), port, work_dir)
        exits.callback(emulators[name].stop)
    for emulator in emulators.values():
        _wait_for_port(emulator.port)
    return emulators


def emulator_environment(emulators: dict[str, Server]) -> dict[str, str]:
    """What points the Google clients at `spawn_emulators`' emulators."""
    return {
        "FIRESTORE_EMULATOR_HOST": emulators["firestore"].address,
        "PUBSUB_EMULATOR_HOST": emulators["pubsub"].address,
        "GOOGLE_CLOUD_PROJECT": "demo-fnproxy",
    }


def start_emulators(sdk: Path, work_dir: Path, exits: ExitStack) -> dict[str, str]:
    return emulator_environment(spawn_emulators(sdk, work_dir, exits))


def _wait_for_port(port: int, timeout_s: float = 60) -> None:
    import socket

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout_s:g} s")


@contextmanager
def gcp_stack(sdk: Path, function_url: str, work_dir: Path) -> Iterator[GcpDeployment]:
    with ExitStack() as exits:
        exits.enter_context(environment(start_emulators(sdk, work_dir, exits)))
        from google.cloud import pubsub_v1

        from tests.gcp.gcp_stack import create_stack, start_function
        from tests.gcp.secret_manager_server import SecretManagerServer

        secrets_server = SecretManagerServer()
        secrets_server.start()
        exits.callback(secrets_server.stop)
        stack = create_stack(secrets_server)
        env = stack.environment(LOG_LEVEL="WARNING")
        api_function = start_function("http", env, work_dir)
        exits.callback(api_function.stop)
        worker = start_function("worker", env, work_dir, "cloudevent")
        exits.callback(worker.stop)
        token = fetch_token(api_function.url, stack.module_key)
        api = HttpApi(api_function.url, token)
        exits.callback(api.close)
        subscriber = pubsub_v1.SubscriberClient()
        exits.callback(subscriber.close)
        yield GcpDeployment(stack, api, worker.url, function_url, subscriber)


# --- the run ---------------------------------------------------------------------------------


def run_accounting(function_url: str, sizes: Sizes, stacks: Sequence[str]) -> list[Tally]:
    work_dir = Path(tempfile.mkdtemp(prefix="fnproxy-accounting-"))
    tallies: list[Tally] = []
    try:
        for name in stacks:
            started = stack_for(name, function_url, work_dir / name)
            if started is None:
                progress(f"  {name}: skipped (its emulator is not installed)")
                continue
            with started as deployment:
                tallies += run_stack(deployment, sizes)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    return tallies


def stack_for(name: str, function_url: str, work_dir: Path) -> Any:
    work_dir.mkdir(parents=True)
    if name == "local":
        return local_stack(function_url, work_dir)
    if name == "aws":
        return aws_stack(work_dir) if moto_available() else None
    sdk = google_sdk()
    return gcp_stack(sdk, function_url, work_dir) if sdk else None


def format_tallies(tallies: Sequence[Tally]) -> str:
    headers = ("stack", "invocations", "sent", "answered", "recorded", "published", "stats",
               "equal?", "seconds")
    rows = [headers] + [
        (t.stack, t.phase, *(f"{count:,}" for count in t.counts), "yes" if t.equal else "NO",
         f"{t.seconds:.1f}")
        for t in tallies
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(headers))]
    lines = ["  ".join([row[0].ljust(widths[0]), row[1].ljust(widths[1]),
                        *(cell.rjust(width) for cell, width in zip(row[2:], widths[2:],
                                                                    strict=True))])
             for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


@dataclass(frozen=True)
class Exactly(Goal):
    """`ratio == threshold`: a count neither short nor over."""

    def met(self, ratio: float) -> bool:
        return ratio == self.threshold

    def __str__(self) -> str:
        return f"= {self.threshold:g}x"


def rows_of(tallies: Sequence[Tally]) -> list[Row]:
    """run_all's rows: per stack and invocation kind, the count furthest from `sent`."""
    rows = []
    for tally in tallies:
        worst = max(tally.counts[1:], key=lambda count: abs(count - tally.sent))
        note = (f"(e) {tally.stack} {tally.phase}: sent {tally.sent}, answered {tally.answered}, "
                f"recorded {tally.recorded}, published {tally.published}, stats {tally.stats}")
        rows.append(Row(f"(e) accounting, {tally.stack}, {tally.phase}: worst count", worst,
                        tally.sent, worst / tally.sent if tally.sent else 1.0, Exactly(1.0),
                        notes=[note]))
    return rows


def run(stack: Stack, options: Options) -> list[Row]:
    """For run_all: the default sizes on every stack, against the shared instant function."""
    progress("(e) accounting: sent = answered = recorded = published = stats")
    return rows_of(run_accounting(stack.instant.url + "/fn", Sizes(), ("local", "aws", "gcp")))


def parse_sizes(argv: Sequence[str] | None = None) -> tuple[Sizes, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sync", type=int, default=Sizes.sync, help="default %(default)s")
    parser.add_argument("--async", dest="async_", type=int, default=Sizes.async_,
                        help="default %(default)s")
    parser.add_argument("--mixed", type=int, default=Sizes.mixed, help="default %(default)s")
    parser.add_argument("--clients", type=int, default=Sizes.clients,
                        help="concurrent callers (default %(default)s; one on aws: a Lambda "
                             "container takes one event at a time)")
    parser.add_argument("--stacks", default="local,aws,gcp", help="default %(default)s")
    args = parser.parse_args(argv)
    sizes = Sizes(args.sync, args.async_, args.mixed, max(args.clients, 1))
    return sizes, [name.strip() for name in args.stacks.split(",") if name.strip()]


def main() -> None:
    sizes, stacks = parse_sizes()
    function = spawn_function_server(0.0, Path(tempfile.mkdtemp(prefix="fnproxy-fn-")))
    try:
        function.wait_ready("/")
        tallies = run_accounting(function.url + "/fn", sizes, stacks)
    finally:
        function.stop()
    print(machine_line())
    print(f"sizes: {sizes.sync} sync, {sizes.async_} async, {sizes.mixed} mixed "
          f"(half sync, half async, interleaved); {sizes.clients} concurrent callers")
    print(format_tallies(tallies))


if __name__ == "__main__":
    main()
