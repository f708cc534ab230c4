"""Secret references: any setting NAME can be read from the platform's secret manager.

`NAME_SECRET=<secret id>` (or its alias `NAME_SECRET_ARN`) says "NAME's value is that secret's
current value". The id is whatever the platform's secret manager calls a secret (a name or ARN
on AWS, `projects/P/secrets/S` on GCP), optionally followed by `#json-key` to pick one key of a
secret that holds a JSON object. An explicit NAME wins over a reference. See docs/secrets.md.

Error messages name the variable and the secret id, never a secret's value.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from core.config import ConfigError
from core.errors import FnproxyError

REFERENCE_SUFFIXES = ("_SECRET", "_SECRET_ARN")
JSON_KEY_SEPARATOR = "#"


@dataclass(frozen=True, slots=True)
class SecretReference:
    variable: str
    """The variable that holds the reference, e.g. `MODULE_SECRET_KEY_SECRET_ARN`."""
    secret_id: str
    json_key: str | None = None

    def select(self, secret_value: str) -> str | None:
        """The referenced value inside a secret's value: all of it, or its `#json-key` (None
        when the JSON object lacks that key)."""
        if self.json_key is None:
            return secret_value
        document = _json_object(secret_value)
        if document is None:
            raise ConfigError(
                f"{self.variable}: secret {self.secret_id} is not a JSON object,"
                f" so #{self.json_key} cannot be selected from it"
            )
        return _setting_text(self, document.get(self.json_key))


def parse_reference(variable: str, raw: str) -> SecretReference:
    """`<secret id>[#json-key]` as found in `variable`."""
    secret_id, separator, json_key = raw.strip().partition(JSON_KEY_SEPARATOR)
    if not secret_id:
        raise ConfigError(f"{variable}: expected a secret id, got an empty one")
    if separator and not json_key:
        raise ConfigError(f"{variable}: expected a JSON key after '#'")
    return SecretReference(variable, secret_id, json_key or None)


def find_reference(environ: Mapping[str, str], name: str) -> SecretReference | None:
    """The reference that says where NAME's value lives, if the environment has one."""
    found = [
        parse_reference(name + suffix, environ[name + suffix])
        for suffix in REFERENCE_SUFFIXES
        if environ.get(name + suffix, "").strip()
    ]
    targets = {(reference.secret_id, reference.json_key) for reference in found}
    if len(targets) > 1:
        raise ConfigError(f"{name}: set only one of {' or '.join(r.variable for r in found)}")
    return found[0] if found else None


def referenced_names(environ: Mapping[str, str]) -> list[str]:
    """Every NAME that some `NAME_SECRET` or `NAME_SECRET_ARN` variable refers to."""
    names = {
        variable.removesuffix(suffix)
        for variable in environ
        for suffix in REFERENCE_SUFFIXES
        if variable.endswith(suffix) and len(variable) > len(suffix)
    }
    return sorted(names)


def resolve_setting_references(
    environ: Mapping[str, str], read: Callable[[str], str | None]
) -> dict[str, str]:
    """A copy of `environ` in which every referenced NAME without an explicit value holds its
    secret's current value.

    `read(secret_id)` answers a secret's current value, None when the secret does not exist, and
    raises a `FnproxyError` when it cannot tell; it runs once per secret (at cold start).
    """
    resolved = dict(environ)
    values_by_secret: dict[str, str | None] = {}
    for name in referenced_names(environ):
        if environ.get(name):
            continue
        reference = find_reference(environ, name)
        if reference is None:
            continue
        if reference.secret_id not in values_by_secret:
            values_by_secret[reference.secret_id] = _read(reference, read)
        resolved[name] = _required_value(reference, values_by_secret[reference.secret_id])
    return resolved


def _read(reference: SecretReference, read: Callable[[str], str | None]) -> str | None:
    try:
        return read(reference.secret_id)
    except FnproxyError as error:
        raise ConfigError(f"{reference.variable}: {error.detail}") from error


def _required_value(reference: SecretReference, secret_value: str | None) -> str:
    value = None if secret_value is None else reference.select(secret_value)
    if value is None:
        raise ConfigError(f"{reference.variable}: secret {_described(reference)} not found")
    return value


def _described(reference: SecretReference) -> str:
    if reference.json_key is None:
        return reference.secret_id
    return f"{reference.secret_id}{JSON_KEY_SEPARATOR}{reference.json_key}"


def _json_object(secret_value: str) -> dict | None:
    try:
        document = json.loads(secret_value)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _setting_text(reference: SecretReference, value: object) -> str | None:
    """A JSON value as a setting's text: strings as they are, numbers and booleans as JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return json.dumps(value)
    raise ConfigError(
        f"{reference.variable}: #{reference.json_key} of secret {reference.secret_id}"
        " is not a string, number or boolean"
    )
