"""Scopes: validation, plain checks, and invoke globs."""

from __future__ import annotations

import pytest

from core.auth.principal import Principal
from core.auth.scopes import (
    can_invoke,
    format_scope,
    has_scope,
    parse_scope,
    require,
    require_invoke,
    validate_scopes,
)
from core.errors import Forbidden, ValidationFailed


def principal(*scopes: str) -> Principal:
    return Principal(
        subject="client:cl_x", scopes=frozenset(scopes), token_id="t", client_id="cl_x"
    )


# --- validation ---------------------------------------------------------------------------------


def test_known_scopes_are_accepted_in_order_without_duplicates() -> None:
    given = ["read", "invoke:local:*", "admin", "invoke", "read", "invoke:http:example.com/fn"]
    assert validate_scopes(given) == [
        "read",
        "invoke:local:*",
        "admin",
        "invoke",
        "invoke:http:example.com/fn",
    ]


@pytest.mark.parametrize(
    "scope", ["write", "Admin", "invoke:", "invoke:a b", "invoke:\tx", "invoke-local", "", " read"]
)
def test_unknown_scopes_are_refused(scope: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_scopes(["read", scope])
    assert caught.value.extra["unknown_scopes"] == [scope]


def test_non_string_scopes_are_refused() -> None:
    with pytest.raises(ValidationFailed):
        validate_scopes(["read", 7])  # type: ignore[list-item]


def test_an_empty_scope_list_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="at least one scope"):
        validate_scopes([])


def test_scope_claim_roundtrip() -> None:
    claim = format_scope(["read", "invoke:local:*"])
    assert claim == "read invoke:local:*"
    assert parse_scope(claim) == frozenset({"read", "invoke:local:*"})
    assert parse_scope("") == frozenset()


# --- plain scopes -------------------------------------------------------------------------------


def test_a_scope_is_held_when_granted() -> None:
    assert has_scope(principal("read"), "read")
    assert not has_scope(principal("read"), "invoke")
    assert not has_scope(principal("invoke"), "read")
    assert not has_scope(principal(), "read")


@pytest.mark.parametrize("scope", ["read", "invoke", "admin"])
def test_admin_implies_every_scope(scope: str) -> None:
    assert has_scope(principal("admin"), scope)
    require(principal("admin"), scope)


def test_require_raises_forbidden_naming_the_scope() -> None:
    require(principal("read"), "read")
    with pytest.raises(Forbidden) as caught:
        require(principal("read", "invoke"), "admin")
    assert "'admin'" in caught.value.detail
    assert caught.value.extra == {"required_scope": "admin"}


# --- invoke -------------------------------------------------------------------------------------

FUNCTIONS = ["local:echo", "http:example.com/fn", "aws_lambda:my-fn", "gcp_functions:hello"]


@pytest.mark.parametrize("function_key", FUNCTIONS)
@pytest.mark.parametrize("scope", ["admin", "invoke"])
def test_admin_and_invoke_may_invoke_anything(scope: str, function_key: str) -> None:
    assert can_invoke(principal(scope), function_key)
    require_invoke(principal(scope), function_key)


@pytest.mark.parametrize("function_key", FUNCTIONS)
def test_read_alone_may_invoke_nothing(function_key: str) -> None:
    assert not can_invoke(principal("read"), function_key)
    assert not can_invoke(principal(), function_key)


@pytest.mark.parametrize(
    ("glob", "allowed", "denied"),
    [
        ("local:echo", ["local:echo"], ["local:echo2", "local:ech", "aws_lambda:echo"]),
        ("local:*", ["local:echo", "local:x"], ["aws_lambda:echo", "xlocal:echo"]),
        ("aws_lambda:my-*", ["aws_lambda:my-fn", "aws_lambda:my-"], ["aws_lambda:your-fn"]),
        (
            "http:example.com/*",
            ["http:example.com/fn", "http:example.com/a/b"],
            ["http:evil.com/fn"],
        ),
        ("*:echo", ["local:echo", "aws_lambda:echo"], ["local:echo-2"]),
        ("local:fn?", ["local:fn1"], ["local:fn", "local:fn12"]),
        ("local:[ab]*", ["local:alpha", "local:beta"], ["local:gamma"]),
        ("local:Echo", ["local:Echo"], ["local:echo"]),
    ],
)
def test_invoke_globs(glob: str, allowed: list[str], denied: list[str]) -> None:
    holder = principal("read", f"invoke:{glob}")
    for function_key in allowed:
        assert can_invoke(holder, function_key), function_key
    for function_key in denied:
        assert not can_invoke(holder, function_key), function_key


def test_several_globs_each_allow_their_functions() -> None:
    holder = principal("invoke:local:*", "invoke:aws_lambda:billing-*")
    assert can_invoke(holder, "local:echo")
    assert can_invoke(holder, "aws_lambda:billing-report")
    assert not can_invoke(holder, "aws_lambda:payroll")


def test_a_glob_does_not_grant_plain_invoke() -> None:
    assert not has_scope(principal("invoke:local:*"), "invoke")


def test_require_invoke_raises_forbidden_naming_the_function() -> None:
    with pytest.raises(Forbidden) as caught:
        require_invoke(principal("invoke:local:*"), "aws_lambda:my-fn")
    assert "aws_lambda:my-fn" in caught.value.detail


# --- located Lambda keys ------------------------------------------------------------------------

FOREIGN_ARN_KEY = "aws_lambda:/eu-west-1/999999999999/billing-x"
OTHER_REGION_KEY = "aws_lambda:/eu-west-1/self/billing-x"


@pytest.mark.parametrize("glob", ["aws_lambda:billing-*", "aws_lambda:b*", "aws_lambda:eu-*"])
@pytest.mark.parametrize("function_key", [FOREIGN_ARN_KEY, OTHER_REGION_KEY])
def test_a_glob_on_bare_lambda_names_reaches_no_other_account_or_region(
    glob: str, function_key: str
) -> None:
    assert not can_invoke(principal(f"invoke:{glob}"), function_key)


@pytest.mark.parametrize(
    ("glob", "allowed", "denied"),
    [
        (
            "aws_lambda:/eu-west-1/123456789012/billing-*",
            ["aws_lambda:/eu-west-1/123456789012/billing-x:live"],
            [
                "aws_lambda:/eu-west-1/999999999999/billing-x",
                "aws_lambda:/us-east-1/123456789012/billing-x",
                "aws_lambda:billing-x",
            ],
        ),
        (
            "aws_lambda:/*/123456789012/*",
            ["aws_lambda:/eu-west-1/123456789012/a", "aws_lambda:/us-east-1/123456789012/b:1"],
            ["aws_lambda:/eu-west-1/999999999999/a", "aws_lambda:/eu-west-1/self/a"],
        ),
        (
            "aws_lambda:/eu-west-1/self/*",
            ["aws_lambda:/eu-west-1/self/billing-x"],
            [FOREIGN_ARN_KEY, "aws_lambda:/us-east-1/self/billing-x"],
        ),
        ("aws_lambda:*", ["aws_lambda:billing-x", FOREIGN_ARN_KEY], ["local:billing-x"]),
    ],
)
def test_located_lambda_keys_are_matched_by_located_globs(
    glob: str, allowed: list[str], denied: list[str]
) -> None:
    holder = principal(f"invoke:{glob}")
    for function_key in allowed:
        assert can_invoke(holder, function_key), function_key
    for function_key in denied:
        assert not can_invoke(holder, function_key), function_key
