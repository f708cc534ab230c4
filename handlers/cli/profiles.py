"""Named profiles: a TOML file in the user's config folder (Typer's `get_app_dir`, which
follows XDG_CONFIG_HOME) holding, per name, a `url` and a `client_id`, and a `client_secret`
only when the user asked to store it in plain text (the file is then 0600)."""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

import typer

from handlers.cli.errors import UsageError

APP_NAME = "fnproxy"
FILE_NAME = "config.toml"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
FIELDS = ("url", "client_id", "client_secret")


@dataclass
class Profile:
    url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None

    def shown(self) -> dict[str, str]:
        """What `profile show` prints: the secret's presence, never the secret."""
        view = {name: value for name, value in asdict(self).items() if value is not None}
        if self.client_secret is not None:
            view["client_secret"] = "(stored in plain text)"
        return view


def config_path() -> Path:
    return Path(typer.get_app_dir(APP_NAME)) / FILE_NAME


def load_all(path: Path | None = None) -> dict[str, Profile]:
    path = path or config_path()
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise UsageError(f"profiles: cannot read {path}: {error}") from None
    profiles = document.get("profiles", {})
    if not isinstance(profiles, dict):
        raise UsageError(f"profiles: {path} has no [profiles.NAME] tables")
    return {name: profile_from(name, table, path) for name, table in profiles.items()}


def profile_from(name: str, table: object, path: Path) -> Profile:
    if not isinstance(table, dict) or set(table) - set(FIELDS):
        raise UsageError(f"profiles: [profiles.{name}] in {path} takes only {', '.join(FIELDS)}")
    if not all(isinstance(value, str) for value in table.values()):
        raise UsageError(f"profiles: [profiles.{name}] in {path} has a value that is not text")
    return Profile(**table)


def load(name: str, path: Path | None = None) -> Profile:
    profiles = load_all(path)
    if name not in profiles:
        raise missing(name, profiles)
    return profiles[name]


def missing(name: str, profiles: dict[str, Profile]) -> UsageError:
    known = ", ".join(sorted(profiles)) or "none yet: `fnproxy profile set NAME --url URL`"
    return UsageError(f"no profile {name!r} (profiles: {known})")


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise UsageError(f"profile name {name!r}: 1-64 letters, digits, '_' or '-'")
    return name


def save_all(profiles: dict[str, Profile], path: Path | None = None) -> Path:
    """Write every profile; the file is 0600 when it holds a secret (created so, never
    readable by others even for a moment), 0644 otherwise."""
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = any(profile.client_secret is not None for profile in profiles.values())
    mode = 0o600 if secret else 0o644
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(to_toml(profiles))
    os.chmod(temporary, mode)  # the umask may have taken bits off
    os.replace(temporary, path)
    return path


def to_toml(profiles: dict[str, Profile]) -> str:
    tables = []
    for name, profile in sorted(profiles.items()):
        lines = [f"[profiles.{name}]"]
        lines += [
            f"{field} = {toml_string(value)}"
            for field, value in asdict(profile).items()
            if value is not None
        ]
        tables.append("\n".join(lines) + "\n")
    return "\n".join(tables)


def toml_string(value: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's, but for DEL, which TOML wants escaped."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
