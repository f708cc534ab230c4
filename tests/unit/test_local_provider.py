"""LocalProvider with real worker processes: the sample functions of functions/, and a few
test-only ones written to a temporary folder."""

import asyncio
import multiprocessing
import os
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.errors import FunctionNotFound, InvalidRequest
from core.providers.base import CallContext
from core.providers.local import LocalProvider
from core.targets import LocalTarget

SAMPLES = Path(__file__).resolve().parents[2] / "functions"
MEMORY_MB = 256

EXTRA_FUNCTIONS = {
    "echo": "def handler(event, context):\n    return event\n",
    "slow": "import time\n\ndef handler(event, context):\n    time.sleep(event)\n",
    "raw_output": """
        import os

        def handler(event, context):
            os.write(1, b"written to fd 1\\n")
            os.write(2, b"written to fd 2\\n")
    """,
    "unserializable": "def handler(event, context):\n    return {'when': object()}\n",
    "crash": """
        import os, signal

        def handler(event, context):
            os.kill(os.getpid(), signal.SIGKILL)

        def exit(event, context):
            os._exit(3)
    """,
    "lambda_context": """
        def handler(event, context):
            return {
                "function_name": context.function_name,
                "function_version": context.function_version,
                "aws_request_id": context.aws_request_id,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "invoked_function_arn": context.invoked_function_arn,
                "remaining_ms": context.get_remaining_time_in_millis(),
            }

        def other(event, context):
            return "other"
    """,
    "server_env": """
        import os

        def handler(event, context):
            return {name: os.environ.get(name) for name in event}
    """,
    "_helper": "VALUE = 1\n",
}


def call(timeout_s: float = 5.0) -> CallContext:
    return CallContext(execution_id="exec-1", caller="tester", timeout_s=timeout_s, attempt=1)


def local(function: str) -> LocalTarget:
    return LocalTarget(provider="local", function=function)


@pytest.fixture(scope="module")
async def samples() -> AsyncIterator[LocalProvider]:
    provider = LocalProvider(SAMPLES, workers=2, memory_mb=MEMORY_MB)
    yield provider
    await provider.close()


@pytest.fixture(scope="module")
def extras_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("functions")
    for name, source in EXTRA_FUNCTIONS.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(source))
    outside = tmp_path_factory.mktemp("elsewhere") / "outside.py"
    outside.write_text("def handler(event, context):\n    return 'escaped'\n")
    (folder / "escape.py").symlink_to(outside)
    return folder


@pytest.fixture(scope="module")
async def extras(extras_dir: Path) -> AsyncIterator[LocalProvider]:
    provider = LocalProvider(extras_dir, workers=1, memory_mb=MEMORY_MB)
    yield provider
    await provider.close()


async def test_echo_round_trip(samples):
    payload = {"text": "h\u00e9llo", "numbers": [1, 2.5], "nested": {"ok": True, "none": None}}

    outcome = await samples.invoke(local("echo"), payload, call())

    assert outcome.success and outcome.status_code == 200
    assert outcome.result == payload
    assert outcome.logs == ""
    assert outcome.info["path"] == "echo.py"


async def test_sample_functions(samples):
    hello = await samples.invoke(local("hello"), {"name": "Ada"}, call())
    counter = await samples.invoke(local("counter"), {"session": {"count": 2}}, call())

    assert hello.result == {"message": "Hello, Ada!"}
    assert counter.result == {"count": 3, "session": {"count": 3}}


async def test_an_exception_is_a_failed_outcome_with_its_traceback_in_the_logs(samples):
    outcome = await samples.invoke(local("fail"), {"message": "no luck"}, call())

    assert not outcome.success and outcome.status_code == 500
    assert outcome.error == {"type": "ValueError", "message": "no luck"}
    assert "Traceback" in outcome.logs and "fail.py" in outcome.logs
    assert "_local_worker" not in outcome.logs


async def test_output_of_concurrent_invocations_is_kept_apart(samples):
    first, second = await asyncio.gather(
        samples.invoke(local("noisy"), {"tag": "first", "pause_s": 0.1}, call()),
        samples.invoke(local("noisy"), {"tag": "second", "pause_s": 0.1}, call()),
    )

    assert first.info["worker_pid"] != second.info["worker_pid"]
    assert first.logs == "first: to stdout\nfirst: to stderr\n"
    assert second.logs == "second: to stdout\nsecond: to stderr\n"


async def test_output_is_captured_at_file_descriptor_level(extras):
    outcome = await extras.invoke(local("raw_output"), None, call())

    assert outcome.logs == "written to fd 1\nwritten to fd 2\n"


async def test_the_pool_runs_as_many_invocations_at_once_as_it_has_workers(samples):
    await asyncio.gather(*(samples.invoke(local("echo"), i, call()) for i in range(2)))  # warm

    started = time.monotonic()
    outcomes = await asyncio.gather(
        *(samples.invoke(local("slow"), {"seconds": 0.5}, call()) for _ in range(2))
    )

    assert all(outcome.success for outcome in outcomes)
    assert time.monotonic() - started < 0.9


async def test_a_timeout_kills_the_worker_and_the_next_call_gets_a_new_one(extras):
    before = await extras.invoke(local("echo"), 1, call())

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(extras.invoke(local("slow"), 30, call()), 0.3)

    await _until_gone(before.info["worker_pid"])
    after = await extras.invoke(local("echo"), 2, call())
    assert after.result == 2
    assert after.info["worker_pid"] != before.info["worker_pid"]


async def test_a_function_over_the_memory_cap_fails_and_the_pool_goes_on(samples):
    outcome = await samples.invoke(local("hog"), {"mb": 2 * MEMORY_MB}, call())

    assert not outcome.success and outcome.status_code == 500
    assert outcome.error["type"] in ("MemoryError", "WorkerCrashed")
    assert (await samples.invoke(local("hog"), {"mb": 16}, call())).success


@pytest.mark.parametrize(
    ("function", "how"), [("crash", "was killed by SIGKILL"), ("crash.exit", "exited with code 3")]
)
async def test_a_worker_that_dies_is_reported_and_replaced(extras, function, how):
    outcome = await extras.invoke(local(function), None, call())

    assert not outcome.success and outcome.status_code == 500
    assert outcome.error == {"type": "WorkerCrashed", "message": f"the worker process {how}"}
    await _until_gone(outcome.info["worker_pid"])
    assert (await extras.invoke(local("echo"), "again", call())).result == "again"


async def test_a_result_that_json_cannot_carry_is_a_failure(extras):
    outcome = await extras.invoke(local("unserializable"), None, call())

    assert not outcome.success
    assert outcome.error["type"] == "ResultNotSerializable"


async def test_an_event_that_json_cannot_carry_is_refused(extras):
    with pytest.raises(InvalidRequest):
        await extras.invoke(local("echo"), {"raw": b"bytes"}, call())


async def test_the_handler_gets_a_lambda_like_context(extras):
    outcome = await extras.invoke(local("lambda_context"), None, call(timeout_s=5.0))

    assert outcome.result == {
        "function_name": "lambda_context",
        "function_version": "$LATEST",
        "aws_request_id": "exec-1",
        "memory_limit_in_mb": MEMORY_MB,
        "invoked_function_arn": "local:lambda_context",
        "remaining_ms": pytest.approx(5000, abs=1000),
    }


async def test_module_dot_function_names_another_handler(extras):
    outcome = await extras.invoke(local("lambda_context.other"), None, call())

    assert outcome.result == "other"


async def test_an_edited_module_is_loaded_again(extras, extras_dir):
    module = extras_dir / "edited.py"
    module.write_text("def handler(event, context):\n    return 'first'\n")
    assert (await extras.invoke(local("edited"), None, call())).result == "first"

    module.write_text("def handler(event, context):\n    return 'second'\n")
    stat = module.stat()
    os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))

    assert (await extras.invoke(local("edited"), None, call())).result == "second"


@pytest.mark.parametrize("function", ["missing", "echo.missing", "_helper", "escape"])
async def test_a_missing_function_is_not_found(extras, function):
    with pytest.raises(FunctionNotFound):
        await extras.invoke(local(function), None, call())


async def test_names_cannot_leave_the_functions_folder(extras):
    for name in ("../etc/passwd", "..", "echo/../echo", "a\0b"):
        with pytest.raises(FunctionNotFound):
            await extras.get_function(name)


async def test_dry_run_checks_the_module_without_running_it(extras):
    outcome = await extras.dry_run(local("crash"), None, call())

    assert outcome.success and outcome.status_code == 204
    assert outcome.info == {"path": "crash.py"}
    with pytest.raises(FunctionNotFound):
        await extras.dry_run(local("missing"), None, call())


async def test_list_functions_pages_through_the_samples_with_their_descriptions(samples):
    pages, cursor = [], None
    while True:
        page = await samples.list_functions(limit=3, cursor=cursor)
        pages.append([info.name for info in page.items])
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert pages == [["counter", "echo", "fail"], ["hello", "hog", "noisy"], ["slow"]]
    echo = (await samples.list_functions(limit=2, cursor="counter")).items[0]
    assert echo.provider == "local"
    assert echo.details == {
        "handler": "handler",
        "description": "Echo: returns the event it was given.",
        "path": "echo.py",
    }


async def test_helpers_and_links_out_of_the_folder_are_not_listed(extras):
    names = [info.name for info in (await extras.list_functions(limit=100, cursor=None)).items]

    assert "echo" in names
    assert "_helper" not in names and "escape" not in names


async def test_get_function_describes_one_module(samples):
    info = await samples.get_function("hello")

    assert info.name == "hello"
    assert info.details["description"] == 'Hello: greets event["name"] (default "world").'


def test_function_key():
    provider = LocalProvider(SAMPLES, workers=1, memory_mb=MEMORY_MB)

    assert provider.function_key(local("hello")) == "local:hello"


async def test_workers_start_on_first_use_and_stop_on_close():
    children = set(multiprocessing.active_children())
    provider = LocalProvider(SAMPLES, workers=2, memory_mb=MEMORY_MB)
    assert set(multiprocessing.active_children()) == children

    outcome = await provider.invoke(local("echo"), None, call())
    await provider.close()

    await _until_gone(outcome.info["worker_pid"])


async def _until_gone(pid: int, timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        await asyncio.sleep(0.02)
    pytest.fail(f"process {pid} is still there")


async def test_functions_cannot_read_the_servers_secrets(extras_dir, monkeypatch):
    monkeypatch.setenv("MODULE_SECRET_KEY", "k" * 64)
    monkeypatch.setenv("FNPROXY_VISIBLE", "yes")
    provider = LocalProvider(extras_dir, workers=1, memory_mb=MEMORY_MB)
    try:
        names = ["MODULE_SECRET_KEY", "FNPROXY_VISIBLE"]
        outcome = await provider.invoke(local("server_env"), names, call())
    finally:
        await provider.close()
    assert outcome.result == {"MODULE_SECRET_KEY": None, "FNPROXY_VISIBLE": "yes"}
