"""W3C trace context: what is taken from a caller, what is refused, what each platform's
header turns into."""

from __future__ import annotations

import pytest

from core import tracing
from core.events.base import CloudEvent
from core.invoke.recorder import outcome_event
from core.tracing import (
    from_lookup,
    parse_amzn,
    parse_cloud_trace,
    parse_traceparent,
    serving,
)
from tests.contract.test_store_contract import make_execution

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{SPAN_ID}-01"


def test_a_valid_traceparent_and_tracestate_are_kept() -> None:
    found = parse_traceparent(TRACEPARENT, "rojo=00f067aa0ba902b7, congo=t61rcWkgMzE")

    assert found is not None
    assert (found.traceparent, found.state) == (
        TRACEPARENT,
        "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
    )
    assert found.sampled


@pytest.mark.parametrize(
    "value",
    [
        "",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",  # no flags
        f"00-{'0' * 32}-{SPAN_ID}-01",  # all-zero trace id
        f"00-{TRACE_ID}-{'0' * 16}-01",  # all-zero span id
        f"ff-{TRACE_ID}-{SPAN_ID}-01",  # the forbidden version
        f"00-{TRACE_ID.upper()}-{SPAN_ID}-01",  # upper case
        f"00-{TRACE_ID}-{SPAN_ID}-01-extra",  # version 00 has nothing after the flags
        f"01-{TRACE_ID}-{SPAN_ID}-01-" + "x" * 300,  # past the length bound
    ],
)
def test_a_malformed_traceparent_is_refused(value: str) -> None:
    assert parse_traceparent(value) is None


def test_a_later_version_with_more_fields_is_read_as_version_00() -> None:
    found = parse_traceparent(f"01-{TRACE_ID}-{SPAN_ID}-00-future")

    assert found is not None and found.traceparent == f"00-{TRACE_ID}-{SPAN_ID}-00"


@pytest.mark.parametrize(
    "state",
    ["UPPER=1", "a=b,,=c", "k=" + "v" * 600, ",".join(f"k{i}=v" for i in range(33)), "k=v,"],
)
def test_a_malformed_or_oversized_tracestate_is_dropped_and_the_traceparent_kept(
    state: str,
) -> None:
    found = parse_traceparent(TRACEPARENT, state)

    expected_state = "k=v" if state == "k=v," else None  # an empty member is no member
    assert found is not None and (found.traceparent, found.state) == (TRACEPARENT, expected_state)


def test_an_xray_header_becomes_a_traceparent() -> None:
    found = parse_amzn("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")

    assert found is not None
    assert found.traceparent == "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01"


@pytest.mark.parametrize("parent", ["", ";Parent=0000000000000000", ";Parent=53995c3f"])
def test_an_xray_header_without_a_valid_parent_gets_a_span_id(parent: str) -> None:
    found = parse_amzn(f"Root=1-5759e988-bd862e3fe1be46a994272793{parent};Sampled=0")

    assert found is not None
    assert (found.trace_id, found.flags) == ("5759e988bd862e3fe1be46a994272793", "00")
    assert len(found.span_id) == 16 and found.span_id != "0" * 16
    assert parse_traceparent(found.traceparent) == found


@pytest.mark.parametrize(
    "value",
    [
        "Root=2-5759e988-bd862e3f",
        "Parent=53995c3f42cd8ad8",
        f"Root=1-00000000-{'0' * 24}",
        "x" * 300,
    ],
)
def test_an_xray_header_without_a_valid_root_is_refused(value: str) -> None:
    assert parse_amzn(value) is None


def test_a_cloud_trace_header_becomes_a_traceparent_in_lower_case() -> None:
    found = parse_cloud_trace("105445AA7843BC8BF206B12000100000/1;o=1")

    assert found is not None
    assert found.traceparent == "00-105445aa7843bc8bf206b12000100000-0000000000000001-01"


def test_a_cloud_trace_span_id_past_64_bits_is_replaced() -> None:
    found = parse_cloud_trace(f"105445aa7843bc8bf206b12000100000/{2**64};o=0")

    assert found is not None and found.flags == "00" and found.span_id != f"{2**64:x}"[:16]


def test_the_callers_traceparent_wins_over_the_platform_headers() -> None:
    headers = {
        "traceparent": TRACEPARENT,
        "x-amzn-trace-id": "Root=1-5759e988-bd862e3fe1be46a994272793",
    }

    found = from_lookup(headers.get)

    assert found is not None and found.trace_id == TRACE_ID


def test_a_malformed_traceparent_falls_back_to_the_platform_header() -> None:
    headers = {"traceparent": "garbage", "x-cloud-trace-context": f"{TRACE_ID}/7;o=1"}

    found = from_lookup(headers.get)

    assert found is not None and (found.trace_id, found.span_id) == (TRACE_ID, f"{7:016x}")


def test_an_invocation_is_a_child_of_the_callers_span() -> None:
    with serving({"traceparent": TRACEPARENT, "tracestate": "rojo=1"}):
        own, parent = tracing.for_invocation()

    assert (own.trace_id, own.state, parent) == (TRACE_ID, "rojo=1", SPAN_ID)
    assert own.span_id != SPAN_ID


def test_without_any_trace_an_invocation_starts_a_fresh_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(tracing.AMZN_ENV, raising=False)
    with serving({"traceparent": "00-nonsense"}):
        first, parent = tracing.for_invocation()
    second, _ = tracing.for_invocation()

    assert parent is None and first.trace_id != second.trace_id
    assert parse_traceparent(first.traceparent) == first


def test_the_lambda_runtimes_trace_is_used_when_the_request_has_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(tracing.AMZN_ENV, "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1")

    own, _ = tracing.for_invocation()

    assert own.trace_id == "5759e988bd862e3fe1be46a994272793"


def test_the_outcome_event_carries_the_invocations_traceparent_as_an_extension() -> None:
    execution = make_execution(traceparent=TRACEPARENT, status="succeeded", success=True)

    body = outcome_event(execution).to_json_dict()

    assert body["traceparent"] == TRACEPARENT and body["specversion"] == "1.0"
    assert "traceparent" not in outcome_event(make_execution()).to_json_dict()


def test_an_extension_never_stands_for_a_context_attribute_and_specversion_leads() -> None:
    event = CloudEvent(
        "fnproxy.invocation.succeeded",
        "local:echo",
        {"n": 1},
        extensions={"traceparent": TRACEPARENT, "id": "forged", "specversion": "0.3"},
    )

    body = event.to_json_dict()

    assert list(body)[0] == "specversion" and body["specversion"] == "1.0"
    assert body["id"] == event.id and body["traceparent"] == TRACEPARENT
