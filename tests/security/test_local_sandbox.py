"""Local functions cannot read the server's secrets (issue 10, section 2), replayed against a live
`fnproxy serve` run as user nobody: CI runs as root, and root reads everything.

A probe function dumps its environment and tries every `/proc/*/environ` it can see (its
parent's first: the server), the data folder's files, `.env` and the credential file the
server's environment names. The server holds planted cloud credentials and keys; none of them
may come back. Also replayed: handlers that are not a module's public functions
(`hello.__setattr__` used to break `hello` for every other caller).

The venv's interpreter may live where nobody cannot go (a pyenv under /root): the server then
runs in a venv of a system interpreter of the same version that sees the venv's packages
(`as_nobody`), so that its workers, started with the server's own interpreter, do too.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.providers._sandbox import landlock_abi
from tests.security import support
from tests.security.support import LOCAL_PLATFORM, REPO, Server, start_server

NOBODY = 65534
AS_NOBODY = {"user": NOBODY, "group": NOBODY, "extra_groups": []}
VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
INTERPRETERS = (sys.executable, f"/usr/bin/python{VERSION}", f"/usr/local/bin/python{VERSION}")
PLANTED = {
    "AWS_ACCESS_KEY_ID": "AKIAPLANTEDACCESSKEY",
    "AWS_SECRET_ACCESS_KEY": "PLANTED-aws-secret-access-key",
    "AWS_SESSION_TOKEN": "PLANTED-aws-session-token",
    "OPENWHISK_AUTH_KEY": "PLANTED-uuid:PLANTED-openwhisk-key",
    "GCP_SERVICE_ACCOUNT_KEY": '{"private_key": "PLANTED-gcp-private-key"}',
}
KEY_FILE_SECRET = "PLANTED-google-application-credentials"
DOTENV_SECRET = "PLANTED-dotenv-secret"
PASSED_THROUGH = {"FUNCTION_SETTING": "visible-to-functions"}

PROBE = '''
"""Probe: tries to read the server's secrets."""

import glob
import os


def handler(event, context):
    paths = [f"/proc/{os.getppid()}/environ", *glob.glob("/proc/[0-9]*/environ"), *event]
    return {
        "ppid": os.getppid(),
        "environ": dict(os.environ),
        "files": {path: _read(path) for path in paths},
    }


def _read(path):
    try:
        with open(path, "rb") as file:
            return file.read().decode("utf-8", "replace")
    except OSError as exc:
        return type(exc).__name__
'''


def runs_as_nobody(interpreter: str) -> bool:
    try:
        return subprocess.run([interpreter, "-c", ""], check=False, **AS_NOBODY).returncode == 0
    except OSError:
        return False


@pytest.fixture(scope="module")
def as_nobody(home: Path) -> Iterator[None]:
    """`fnproxy serve` with an interpreter that user nobody can run."""
    if runs_as_nobody(sys.executable):
        yield
        return
    interpreter = next(filter(runs_as_nobody, INTERPRETERS), None)
    if interpreter is None:
        pytest.skip(f"no Python {VERSION} that user nobody can run")
    venv = home / "venv"
    subprocess.run([interpreter, "-m", "venv", "--without-pip", str(venv)], check=True)
    packages = sysconfig.get_paths()["purelib"]
    site_packages = Path(
        sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)})
    )
    (site_packages / "fnproxy-venv.pth").write_text(f"import site; site.addsitedir({packages!r})\n")
    _, body = Path(support.FNPROXY).read_text().split("\n", 1)  # the console script, re-rooted
    script = home / "fnproxy"
    script.write_text(f"#!{venv / 'bin' / 'python'}\n{body}")
    script.chmod(0o755)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(support, "FNPROXY", str(script))
        yield


@pytest.fixture(scope="module")
def home() -> Iterator[Path]:
    """A folder of nobody's beside which its server runs: functions, `.env`, a key file."""
    folder = Path(tempfile.mkdtemp(prefix="fnproxy-nobody-"))
    functions = folder / "functions"
    functions.mkdir()
    (functions / "probe.py").write_text(textwrap.dedent(PROBE))
    for sample in ("hello.py", "echo.py"):
        shutil.copy(REPO / "functions" / sample, functions / sample)
    (folder / ".env").write_text(f"PLANTED_DOTENV={DOTENV_SECRET}\n")
    (folder / "key.json").write_text(json.dumps({"private_key": KEY_FILE_SECRET}))
    for path in (folder, *folder.rglob("*")):
        os.chown(path, NOBODY, NOBODY)
    (folder / "key.json").chmod(0o600)
    yield folder
    shutil.rmtree(folder)


def start_as_nobody(data_dir: Path, **env: str) -> Server:
    return start_server(
        data_dir,
        env={
            "LOCAL_FUNCTIONS_DIR": str(data_dir.parent / "functions"),
            "LOCAL_FUNCTION_ENV": " ".join(PASSED_THROUGH),
            "GOOGLE_APPLICATION_CREDENTIALS": str(data_dir.parent / "key.json"),
            "HOME": str(data_dir.parent),
            **PLANTED,
            **PASSED_THROUGH,
            **env,
        },
        **AS_NOBODY,
    )


@pytest.fixture(scope="module")
def nobody_server(home: Path, as_nobody: None) -> Iterator[Server]:
    started = start_as_nobody(home / "data")
    yield started
    started.stop()


def probe(server: Server) -> dict[str, Any]:
    """What the probe function found, invoked by a client allowed `invoke:local:*`."""
    folder = server.data_dir.parent
    paths = [*map(str, server.data_dir.iterdir()), str(folder / ".env"), str(folder / "key.json")]
    with server.http() as http:
        answer = http.post(
            "/v1/invoke",
            json={"target": {"provider": "local", "function": "probe"}, "payload": paths},
            headers=server.client("invoke:local:*"),
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["success"], answer.text
    return answer.json()["result"]


def secrets_of(server: Server) -> list[str]:
    key_file = server.data_dir / "module_secret_key"
    generated = [key_file.read_text().strip()] if key_file.exists() else []
    return [*PLANTED.values(), server.module_key, KEY_FILE_SECRET, DOTENV_SECRET, *generated]


def test_the_server_runs_as_nobody(nobody_server):
    assert Path(f"/proc/{nobody_server.process.pid}").stat().st_uid == NOBODY


def test_a_local_function_finds_no_secret_in_its_environment(nobody_server):
    found = probe(nobody_server)

    environ = found["environ"]
    assert environ.items() >= PASSED_THROUGH.items()
    assert not set(environ) & {*PLANTED, "MODULE_SECRET_KEY", "GOOGLE_APPLICATION_CREDENTIALS"}
    assert set(environ) <= {"PATH", "HOME", "LANG", "TZ", *PASSED_THROUGH} | {
        name for name in environ if name.startswith("PYTHON")
    }


def test_a_local_function_cannot_read_the_servers_proc_environ(nobody_server):
    found = probe(nobody_server)

    assert found["ppid"] == nobody_server.process.pid
    assert found["files"][f"/proc/{found['ppid']}/environ"] == "PermissionError"
    dumped = json.dumps(found)
    assert [secret for secret in secrets_of(nobody_server) if secret in dumped] == []


def test_the_data_folder_is_0700_and_its_files_0600(nobody_server):
    probe(nobody_server)  # something was written

    assert stat.S_IMODE(nobody_server.data_dir.stat().st_mode) == 0o700
    modes = {
        path.name: stat.S_IMODE(path.stat().st_mode) for path in nobody_server.data_dir.iterdir()
    }
    assert modes.keys() >= {"fnproxy.db", "fnproxy.db-wal", "fnproxy.db-shm"}
    assert modes == dict.fromkeys(modes, 0o600)


@pytest.mark.skipif(not landlock_abi(), reason="this kernel has no Landlock")
def test_a_local_function_cannot_read_the_data_folder_dotenv_or_credential_files(nobody_server):
    found = probe(nobody_server)

    folder = nobody_server.data_dir.parent
    private = [
        *map(str, nobody_server.data_dir.iterdir()),
        str(folder / ".env"),
        str(folder / "key.json"),
    ]
    assert {path: found["files"][path] for path in private} == {
        path: "PermissionError" for path in private
    }


def test_a_generated_key_is_0600_in_a_0700_folder_and_out_of_reach(home, as_nobody):
    server = start_as_nobody(home / "generated", MODULE_SECRET_KEY="", **LOCAL_PLATFORM)
    try:
        key_file = server.data_dir / "module_secret_key"
        server.module_key = key_file.read_text().strip()
        dumped = json.dumps(probe(server))
    finally:
        server.stop()

    assert stat.S_IMODE(server.data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    if landlock_abi():
        assert server.module_key not in dumped
    else:
        assert "this kernel has no Landlock" in server.log


@pytest.mark.parametrize(
    ("function", "payload"),
    [("hello.__setattr__", "handler"), ("echo.__init__", None), ("hello.__class__", None)],
)
def test_only_a_modules_public_functions_are_handlers(nobody_server, function, payload):
    with nobody_server.http() as http:
        refused = http.post(
            "/v1/invoke",
            json={"target": {"provider": "local", "function": function}, "payload": payload},
            headers=nobody_server.client("invoke:local:*"),
        )
        hello = http.post(
            "/v1/invoke",
            json={"target": {"provider": "local", "function": "hello"}, "payload": {}},
            headers=nobody_server.client("invoke:local:hello"),
        )

    assert refused.status_code == 404, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "function_not_found"
    assert hello.status_code == 200, hello.text
    assert hello.json()["result"] == {"message": "Hello, world!"}
