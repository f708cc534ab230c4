"""The global options, wherever they stand on the command line, and what they lead to: the
output, the profile, and the API with its bearer token (given, or fetched with client
credentials or the module key)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import typer

from core.config import GENERATED_KEY_FILE, ensure_local_secret_key, load_settings
from handlers.cli.api import DEFAULT_TIMEOUT_S, TOKEN_PATH, Api
from handlers.cli.errors import UsageError
from handlers.cli.output import Output, OutputMode
from handlers.cli.profiles import Profile, load

GLOBAL_OPTIONS = (
    "--url",
    "--token",
    "--profile",
    "--output",
    "-o",
    "--timeout",
    "--client-id",
    "--client-secret",
    "--api-key",
)
"""The root's options that take a value, also accepted after the command."""
OWN_OPTIONS = {("profile", "set"): ("--url", "--client-id", "--client-secret")}
"""Commands with options of the same names as global ones: theirs are never moved."""


def hoist_global_options(argv: list[str]) -> list[str]:
    """`argv` with the global options (and their values) moved before the command, so that
    `fnproxy history --url U` means `fnproxy --url U history`. Nothing after `--` moves, and
    a global option missing its value stays where it is, for Click to name."""
    front, rest = split_global_options(argv, GLOBAL_OPTIONS)
    words = [arg for arg in rest if not arg.startswith("-")]
    for command, own in OWN_OPTIONS.items():
        if words[: len(command)] == list(command):
            front, rest = split_global_options(argv, tuple(set(GLOBAL_OPTIONS) - set(own)))
    return front + rest


def split_global_options(argv: list[str], options: tuple[str, ...]) -> tuple[list, list]:
    """The `options` with their values, and the rest, each in their order."""
    front: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            rest += argv[index:]
            break
        if (arg.split("=", 1)[0] in options and "=" in arg) or is_short_output(arg):
            front.append(arg)
        elif arg in options and index + 1 < len(argv):
            front += argv[index : index + 2]
            index += 1
        else:
            rest.append(arg)
        index += 1
    return front, rest


def is_short_output(arg: str) -> bool:
    """`-ojson`: -o with its value attached."""
    return arg.startswith("-o") and len(arg) > 2


@dataclass
class Options:
    url: str | None = None
    token: str | None = None
    profile: str | None = None
    output: OutputMode | None = None
    timeout: float = DEFAULT_TIMEOUT_S
    client_id: str | None = None
    client_secret: str | None = None
    api_key: str | None = None


class Cli:
    """One run of the CLI: its options, its output and (made on first use) its API."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.output = Output(options.output)
        self._profile: Profile | None = None
        self._api: Api | None = None

    @property
    def profile(self) -> Profile:
        if self._profile is None:
            name = self.options.profile
            self._profile = load(name) if name else Profile()
        return self._profile

    @property
    def url(self) -> str:
        given = self.options.url or self.profile.url
        if given:
            return given
        settings = load_settings()
        return f"http://{settings.rest_host}:{settings.rest_port}"

    def anonymous(self) -> Api:
        """The API with the token given, if any: nothing fetched."""
        return Api(self.url, self.options.token, self.options.timeout)

    @property
    def api(self) -> Api:
        """The API with a bearer token, fetched when none was given."""
        if self._api is None:
            self._api = self.anonymous()
            if not self._api.token:
                self._api.token = self.fetch_token()["access_token"]
        return self._api

    def fetch_token(self) -> dict[str, Any]:
        return self.anonymous().call("POST", TOKEN_PATH, self.credentials())

    def credentials(self) -> dict[str, str]:
        """Client credentials (flags, environment or profile), else the module key."""
        client_id = self.options.client_id or self.profile.client_id
        if client_id:
            secret = self.options.client_secret or self.profile.client_secret
            if not secret:
                raise UsageError(
                    f"client {client_id}: no secret: pass --client-secret or set "
                    "FNPROXY_CLIENT_SECRET"
                )
            return {"client_id": client_id, "client_secret": secret}
        return {"api_key": self.options.api_key or module_key()}


def module_key() -> str:
    """MODULE_SECRET_KEY, or the key `fnproxy serve` generated into the data folder."""
    settings = load_settings()
    if settings.module_secret_key or (settings.data_path / GENERATED_KEY_FILE).is_file():
        return ensure_local_secret_key(settings, lambda _: None).module_secret_key
    raise UsageError(
        "no token: set FNPROXY_TOKEN, pass --client-id/--client-secret or --profile, or set "
        "MODULE_SECRET_KEY"
    )


def current(ctx: typer.Context) -> Cli:
    """The run's `Cli`, which the root callback put in the context."""
    return ctx.find_root().obj
