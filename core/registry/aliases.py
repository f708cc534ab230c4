"""Aliases: names a registered function's callers use for one of its versions ("live" -> 3),
moved by an admin while callers keep the name (Lambda's Qualifier may be one, and so may
`/v1/functions/{name}/invoke?alias=`).

They live in the function's record (`RegisteredFunction.aliases`): every change to them is the
record's conditional write with its history entry, on every store, and a lookup costs no read
beyond the function's own. A version an alias names cannot be deleted (409, as Lambda refuses
to delete a version an alias references): deleting it would leave the alias naming nothing,
and the callers using it failing, without anyone having asked for that."""

from __future__ import annotations

import re

from core.errors import Conflict, InvalidRequest, NotFound
from core.models import RegisteredFunction

ALIAS_PATTERN = r"^(?!^[0-9]+$)[A-Za-z0-9_-]{1,128}$"
"""Lambda's alias names: 1-128 letters, digits, '-' or '_', not all digits (that is a
version number)."""
MAX_ALIASES = 100
"""Aliases one function may have: the record that holds them stays small."""
_ALIAS = re.compile(ALIAS_PATTERN)


def check_alias_name(alias: str) -> None:
    if not _ALIAS.match(alias):
        raise InvalidRequest(
            "an alias is 1-128 letters, digits, '-' or '_', not all of them digits"
        )


def aliased_version(function: RegisteredFunction, alias: str) -> int:
    """The version `alias` names; NotFound when the function has no such alias."""
    number = function.aliases.get(alias)
    if number is None:
        raise NotFound(f"function {function.name!r} has no alias {alias!r}", function=function.name)
    return number


def check_room_for(function: RegisteredFunction, alias: str) -> None:
    if alias not in function.aliases and len(function.aliases) >= MAX_ALIASES:
        raise Conflict(
            f"function {function.name!r} has {MAX_ALIASES} aliases, the most it may have; "
            "delete one first",
            function=function.name,
        )


def check_unaliased(function: RegisteredFunction, number: int) -> None:
    """Refuse to delete a version an alias names (see the module's docstring)."""
    naming = sorted(alias for alias, version in function.aliases.items() if version == number)
    if naming:
        raise Conflict(
            f"version {number} is named by the alias(es) {', '.join(naming)}; "
            "point them elsewhere or delete them first",
            function=function.name,
            aliases=naming,
        )
