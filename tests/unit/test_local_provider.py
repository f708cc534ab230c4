"""LocalProvider with real worker processes: the sample functions of functions/, and a few
test-only ones written to a temporary folder."""

import asyncio
import os
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.errors import FunctionNotFound, InvalidRequest
from core.providers._sandbox import ACCESS_FS_READ_DIR, SCOPES_ABI, allow_rules, landlock_abi
from core.providers.base import CallContext
from core.providers.local import LocalProvider, worker_environment
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
            return dict(os.environ)
    """,
    "reader": """
        def handler(event, context):
            found = {}
            for path in event:
                try:
                    with open(path, "rb") as file:
                        found[path] = file.read().decode()
                except OSError as exc:
                    found[path] = type(exc).__name__
            return found
    """,
    "signaller": """
        import os

        def handler(event, context):
            try:
                os.kill(os.getppid(), 0)  # signal 0: only asks whether it may signal the server
            except OSError as exc:
                return type(exc).__name__
            return "allowed"
    """,
    "imports": """
        from json import dumps
        from os import getcwd

        class Thing:
            def __init__(self, event, context):
                pass

        def handler(event, context):
            return "ok"
    """,
    "lazy": """
        def __getattr__(name):
            return handler

        def handler(event, context):
            return "ran"
    """,
    "_helper": "VALUE = 1\n",
    "coroutines": """
        import asyncio

        async def handler(event, context):
            await asyncio.sleep(0.01)
            print("awaited for", context.aws_request_id)
            return {"event": event, "remaining_ms": context.get_remaining_time_in_millis()}

        async def fail(event, context):
            await asyncio.sleep(0.01)
            raise KeyError(event)

        async def stall(event, context):
            await asyncio.sleep(event)
            return "woke up"
    """,
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


async def test_an_async_sample_is_awaited_on_an_event_loop(samples):
    outcome = await samples.invoke(local("fanout"), {"tasks": 5, "seconds": 0.2}, call())

    assert outcome.success and outcome.status_code == 200
    assert outcome.result["tasks"] == 5
    assert 0.2 <= outcome.result["elapsed_s"] < 0.5  # the five sleeps ran at once


async def test_an_async_handler_gets_the_event_context_and_its_output_captured(extras):
    outcome = await extras.invoke(local("coroutines"), {"a": [1, 2]}, call(timeout_s=5.0))

    assert outcome.success and outcome.status_code == 200
    assert outcome.result == {"event": {"a": [1, 2]}, "remaining_ms": pytest.approx(5000, abs=1000)}
    assert outcome.logs == "awaited for exec-1\n"


async def test_an_async_handler_that_raises_is_a_failed_outcome(extras):
    outcome = await extras.invoke(local("coroutines.fail"), "missing-key", call())
    after = await extras.invoke(local("coroutines"), 1, call())

    assert not outcome.success and outcome.status_code == 500
    assert outcome.error == {"type": "KeyError", "message": "'missing-key'"}
    assert outcome.logs.startswith("Traceback") and "coroutines.py" in outcome.logs
    assert "_local_worker" not in outcome.logs and "asyncio" not in outcome.logs
    assert after.result["event"] == 1  # the worker runs the next call on a fresh loop
    assert after.info["worker_pid"] == outcome.info["worker_pid"]


async def test_an_async_handler_past_its_deadline_is_stopped_with_its_worker(extras):
    before = await extras.invoke(local("echo"), 1, call())

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(extras.invoke(local("coroutines.stall"), 30, call()), 0.3)

    await _until_gone(before.info["worker_pid"])
    after = await extras.invoke(local("coroutines.stall"), 0, call())
    assert after.result == "woke up"
    assert after.info["worker_pid"] != before.info["worker_pid"]


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


@pytest.mark.parametrize(
    "function", ["echo.__init__", "echo.__class__", "echo.__setattr__", "echo._private"]
)
async def test_a_private_or_dunder_name_is_refused_before_any_worker_runs(extras_dir, function):
    children = _children()
    provider = LocalProvider(extras_dir, workers=1, memory_mb=MEMORY_MB)
    for refused in (provider.invoke, provider.dry_run):
        with pytest.raises(FunctionNotFound):
            await refused(local(function), "handler", call())
    with pytest.raises(FunctionNotFound):
        await provider.get_function(function)

    assert _children() == children
    await provider.close()


@pytest.mark.parametrize(
    "function",
    [
        "imports.dumps",  # a function, but json's
        "imports.getcwd",  # a builtin
        "imports.Thing",  # a class
        "lazy.anything",  # the module's __getattr__ is not asked
    ],
)
async def test_only_a_function_defined_in_the_module_is_a_handler(extras, function):
    with pytest.raises(FunctionNotFound):
        await extras.invoke(local(function), "handler", call())


async def test_a_dunder_cannot_change_what_other_callers_get(extras):
    with pytest.raises(FunctionNotFound):
        await extras.invoke(local("lambda_context.__setattr__"), "handler", call())

    outcome = await extras.invoke(local("lambda_context"), None, call())

    assert outcome.success and outcome.result["function_name"] == "lambda_context"


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

    assert pages == [
        ["counter", "echo", "fail"],
        ["fanout", "hello", "hog"],
        ["invoke_hello", "noisy", "slow"],
    ]
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
    children = _children()
    provider = LocalProvider(SAMPLES, workers=2, memory_mb=MEMORY_MB)
    assert _children() == children

    outcome = await provider.invoke(local("echo"), None, call())
    assert outcome.info["worker_pid"] in _children()
    await provider.close()

    await _until_gone(outcome.info["worker_pid"])


def _children() -> set[int]:
    """The pids of this process's children, from /proc."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # ended meanwhile
            continue
        if int(fields[1]) == os.getpid():
            found.add(int(stat.parent.name))
    return found


async def _until_gone(pid: int, timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        await asyncio.sleep(0.02)
    pytest.fail(f"process {pid} is still there")


async def test_a_function_sees_only_the_allowed_environment(extras_dir, monkeypatch):
    for name in ("MODULE_SECRET_KEY", "AWS_SECRET_ACCESS_KEY", "OPENWHISK_AUTH_KEY"):
        monkeypatch.setenv(name, "planted")
    monkeypatch.setenv("FNPROXY_VISIBLE", "yes")
    monkeypatch.setenv("PYTHONFNPROXY", "python")
    provider = LocalProvider(
        extras_dir, workers=1, memory_mb=MEMORY_MB, function_env=["FNPROXY_VISIBLE"]
    )
    try:
        outcome = await provider.invoke(local("server_env"), None, call())
    finally:
        await provider.close()

    assert outcome.result == worker_environment(os.environ, ["FNPROXY_VISIBLE"])
    assert outcome.result["FNPROXY_VISIBLE"] == "yes"
    assert outcome.result["PYTHONFNPROXY"] == "python"
    assert "planted" not in outcome.result.values()


def test_the_worker_environment_is_an_allow_list():
    server = {
        "PATH": "/bin",
        "HOME": "/h",
        "LANG": "C",
        "TZ": "UTC",
        "PYTHONPATH": "/p",
        "AWS_ACCESS_KEY_ID": "k",
        "GOOGLE_APPLICATION_CREDENTIALS": "/k.json",
        "LC_ALL": "C",
        "NAMED": "n",
    }

    allowed = worker_environment(server, ["NAMED", "ABSENT"])

    assert allowed == {
        "PATH": "/bin",
        "HOME": "/h",
        "LANG": "C",
        "TZ": "UTC",
        "PYTHONPATH": "/p",
        "NAMED": "n",
    }


def test_landlock_rules_allow_everything_but_the_private_paths(tmp_path):
    private = tmp_path / "data"
    (private / "inner").mkdir(parents=True)
    (tmp_path / "sibling").mkdir()
    (tmp_path / "file").write_text("x")
    (tmp_path / "link").symlink_to(private)
    everything = (1 << 13) - 1

    rules = dict(allow_rules([private, private / "inner" / "db"], everything))

    assert rules[tmp_path] == rules[Path("/")] == ACCESS_FS_READ_DIR
    assert rules[tmp_path / "sibling"] == everything
    assert rules[tmp_path / "file"] & ACCESS_FS_READ_DIR == 0
    assert not any(path.is_relative_to(private) for path in rules)
    assert tmp_path / "link" not in rules


@pytest.mark.skipif(not landlock_abi(), reason="this kernel has no Landlock")
async def test_a_function_cannot_read_the_private_paths(extras_dir, tmp_path):
    """Landlock holds for root too (the /proc side needs a non-root user: tests/security)."""
    private = tmp_path / "data"
    private.mkdir()
    (private / "key").write_text("secret")
    (tmp_path / "public").write_text("public")
    provider = LocalProvider(extras_dir, workers=1, memory_mb=MEMORY_MB, private_paths=[private])
    paths = [str(private / "key"), str(tmp_path / "public"), str(extras_dir / "echo.py")]
    try:
        outcome = await provider.invoke(local("reader"), paths, call())
    finally:
        await provider.close()

    assert outcome.result[paths[0]] == "PermissionError"
    assert outcome.result[paths[1]] == "public"
    assert "def handler" in outcome.result[paths[2]]


@pytest.mark.skipif(landlock_abi() < SCOPES_ABI, reason="this kernel has no Landlock scopes")
async def test_a_function_cannot_signal_the_server(extras_dir, tmp_path):
    provider = LocalProvider(extras_dir, workers=1, memory_mb=MEMORY_MB, private_paths=[tmp_path])
    try:
        outcome = await provider.invoke(local("signaller"), None, call())
    finally:
        await provider.close()

    assert outcome.result == "PermissionError"
