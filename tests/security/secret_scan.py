"""Looking for planted secrets in whatever a server let out: each secret with the forms it can
travel in (as written, percent-encoded, inside HTTP Basic credentials), and every place where
one of them turns up, reported with the secret's name and never its value."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

CONTEXT_CHARS = 60


@dataclass(frozen=True)
class Secret:
    name: str
    value: str
    forms: tuple[str, ...]
    """The value, and the encodings of it a leak could take."""


def planted(name: str, value: str, *encodings: str) -> Secret:
    """A secret found as written, percent-encoded, or in any of `encodings`."""
    forms = dict.fromkeys((value, quote(value, safe=""), *encodings))
    return Secret(name, value, tuple(forms))


def basic_credentials(user: str, password: str) -> str:
    """What `user:password` becomes in an `Authorization: Basic` header."""
    return base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass(frozen=True)
class Hit:
    secret: str
    place: str
    context: str

    def __str__(self) -> str:
        return f"{self.secret} in {self.place}: ...{self.context}..."


def find_in_text(
    secrets: Iterable[Secret], text: str, place: str, allowed: Iterable[str] = ()
) -> list[Hit]:
    """One hit per secret (not named in `allowed`) that `text` holds in any form."""
    secrets, exempt = list(secrets), set(allowed)
    hits = []
    for secret in secrets:
        if secret.name in exempt:
            continue
        for form in secret.forms:
            at = text.find(form)
            if at >= 0:
                hits.append(Hit(secret.name, place, _masked_context(text, at, form, secrets)))
                break
    return hits


def find_in_bytes(secrets: Iterable[Secret], data: bytes, place: str) -> list[Hit]:
    """Raw bytes (a database page, a WAL frame): UTF-8 text where one occurs."""
    return find_in_text(secrets, data.decode("utf-8", errors="replace"), place)


def _masked_context(text: str, at: int, form: str, secrets: list[Secret]) -> str:
    """The text around a hit, every planted form replaced by «its name»."""
    snippet = text[max(at - CONTEXT_CHARS, 0) : at + len(form) + CONTEXT_CHARS]
    for secret in secrets:
        for each in secret.forms:
            snippet = snippet.replace(each, f"«{secret.name}»")
    return " ".join(snippet.split())


def report(hits: list[Hit], places_shown: int = 12) -> str:
    """The hits grouped by secret: the first with its context, then where else it was."""
    by_secret: dict[str, list[Hit]] = {}
    for hit in hits:
        by_secret.setdefault(hit.secret, []).append(hit)
    lines = [f"{len(by_secret)} planted secret(s) found, in {len(hits)} place(s):"]
    for name, found in by_secret.items():
        first = found[0]
        lines.append(
            f"- {name} in {len(found)} place(s), first {first.place}: ...{first.context}..."
        )
        lines += [f"    also in {hit.place}" for hit in found[1:places_shown]]
        if len(found) > places_shown:
            lines.append(f"    and {len(found) - places_shown} more")
    return "\n".join(lines)
