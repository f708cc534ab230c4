"""The `scopes` items of a client's body have a pattern that is exactly `is_known_scope`: what
the document admits is a scope, and what is no scope breaks the pattern (in Python's regexes,
the Rust ones pydantic validates with, and so the fuzzer's)."""

from __future__ import annotations

import re

import pytest
from pydantic import TypeAdapter, ValidationError

from core.api.schemas import ClientCreate, Scope
from core.auth.scopes import MAX_SCOPE_CHARS, SCOPE_PATTERN, WHITESPACE_CLASS, is_known_scope

WHITESPACE = [chr(code) for code in range(0x110000) if chr(code).isspace()]
SAMPLES = [
    "admin",
    "read",
    "invoke",
    "invoke:*",
    "invoke:aws_lambda:billing-*",
    "invoke:local:echo",
    "invoke:é",
    "invoke:\ufeff",
    "invoke::",
    "",
    "invoke:",
    "Admin",
    "admin ",
    " read",
    "admin\n",
    "read\n",
    "invoke\n",
    "invoke:x\n",
    "reads",
    "invokes",
    "invoke-x",
    "invoke:a b",
    "admin read",
    *(f"invoke:a{space}b" for space in WHITESPACE),
    *(f"invoke:{space}" for space in WHITESPACE),
]
_rust = TypeAdapter(Scope)


def rust_accepts(scope: str) -> bool:
    try:
        _rust.validate_python(scope)
    except ValidationError:
        return False
    return True


def test_the_whitespace_class_is_pythons_whitespace():
    in_class = re.compile(f"[{WHITESPACE_CLASS}]").fullmatch
    assert [c for c in map(chr, range(0x110000)) if in_class(c)] == WHITESPACE


@pytest.mark.parametrize("scope", SAMPLES)
def test_the_pattern_is_is_known_scope(scope):
    known = is_known_scope(scope)
    assert (re.fullmatch(SCOPE_PATTERN, scope) is not None) == known
    assert rust_accepts(scope) == known


def test_a_scope_is_at_most_max_scope_chars():
    longest = "invoke:" + "x" * (MAX_SCOPE_CHARS - len("invoke:"))
    assert rust_accepts(longest) and not rust_accepts(longest + "x")


def test_the_document_states_the_items_pattern_and_length():
    items = ClientCreate.model_json_schema()["properties"]["scopes"]["items"]
    assert items["pattern"] == SCOPE_PATTERN and items["maxLength"] == MAX_SCOPE_CHARS
