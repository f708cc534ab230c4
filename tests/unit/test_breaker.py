"""The per-target circuit breaker (core/invoke/breaker.py) on a hand-moved clock, and the
per-target concurrency cap (core/invoke/limits.py)."""

from __future__ import annotations

import asyncio

import pytest

from core.errors import CircuitOpen
from core.invoke import breaker as breaker_module
from core.invoke.breaker import CircuitBreakers
from core.invoke.limits import TargetLimits
from core.metrics.prometheus import PrometheusMetrics

KEY = "http:fn.test/f"
THRESHOLD = 3
COOLDOWN_S = 10.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breakers(clock: Clock) -> CircuitBreakers:
    return CircuitBreakers(THRESHOLD, COOLDOWN_S, clock)


def trip(breakers: CircuitBreakers, key: str = KEY) -> None:
    for _ in range(THRESHOLD):
        breakers.admit(key)
        breakers.failed(key)


def test_a_circuit_stays_closed_below_the_threshold(breakers):
    for _ in range(THRESHOLD - 1):
        breakers.failed(KEY)

    breakers.admit(KEY)
    assert breakers.states()[KEY] == {
        "state": "closed",
        "consecutive_failures": THRESHOLD - 1,
        "retry_after_s": 0.0,
    }


def test_the_threshold_opens_it_and_calls_fail_fast_with_the_rest_of_the_cooldown(breakers, clock):
    trip(breakers)
    clock.now += 4

    with pytest.raises(CircuitOpen) as raised:
        breakers.admit(KEY)

    assert raised.value.status == 503 and raised.value.code == "circuit_open"
    assert raised.value.extra["retry_after_s"] == pytest.approx(COOLDOWN_S - 4)
    assert raised.value.extra["circuit"]["state"] == "open"
    breakers.admit("http:fn.test/other")  # another target is not affected


def test_an_answer_resets_the_count(breakers):
    for _ in range(THRESHOLD - 1):
        breakers.failed(KEY)
    breakers.succeeded(KEY)
    for _ in range(THRESHOLD - 1):
        breakers.failed(KEY)

    breakers.admit(KEY)


def test_failures_further_apart_than_the_cooldown_start_a_new_streak(breakers, clock):
    for _ in range(THRESHOLD - 1):
        breakers.failed(KEY)
    clock.now += COOLDOWN_S + 1
    breakers.failed(KEY)

    breakers.admit(KEY)
    assert breakers.states()[KEY]["consecutive_failures"] == 1


def test_after_the_cooldown_one_probe_goes_and_its_success_closes_the_circuit(breakers, clock):
    trip(breakers)
    clock.now += COOLDOWN_S

    breakers.admit(KEY)  # the probe
    assert breakers.states()[KEY]["state"] == "half_open"
    with pytest.raises(CircuitOpen) as raised:  # the others still fail fast
        breakers.admit(KEY)
    assert raised.value.extra["retry_after_s"] == 0
    breakers.succeeded(KEY)

    breakers.admit(KEY)
    breakers.admit(KEY)
    assert breakers.states() == {}


def test_a_failed_probe_opens_the_circuit_for_another_cooldown(breakers, clock):
    trip(breakers)
    clock.now += COOLDOWN_S
    breakers.admit(KEY)
    breakers.failed(KEY)
    clock.now += COOLDOWN_S - 1

    with pytest.raises(CircuitOpen) as raised:
        breakers.admit(KEY)
    assert raised.value.extra["retry_after_s"] == pytest.approx(1)


def test_an_abandoned_probe_lets_the_next_call_probe(breakers, clock):
    trip(breakers)
    clock.now += COOLDOWN_S
    breakers.admit(KEY)
    breakers.abandoned(KEY)  # timed out, cancelled, the caller's own mistake

    breakers.admit(KEY)


def test_only_so_many_targets_are_tracked(breakers, monkeypatch):
    monkeypatch.setattr(breaker_module, "MAX_TRACKED", 2)
    for key in ("a", "b", "c"):
        breakers.failed(key)

    assert list(breakers.states()) == ["b", "c"]


async def test_calls_beyond_the_cap_wait_their_turn_and_other_targets_do_not():
    limits = TargetLimits(2)
    release = asyncio.Event()
    running: list[str] = []

    async def call(key: str) -> None:
        async with limits.slot(key):
            running.append(key)
            if key == "hangs":
                await release.wait()

    hanging = [asyncio.create_task(call("hangs")) for _ in range(3)]
    await asyncio.sleep(0.01)
    await asyncio.wait_for(call("other"), 0.5)

    assert running == ["hangs", "hangs", "other"]
    release.set()
    await asyncio.gather(*hanging)
    assert running.count("hangs") == 3
    assert limits._gates == {}  # nobody holds or waits: the keys are forgotten


async def test_a_wait_ends_with_the_callers_deadline():
    limits = TargetLimits(1)
    async with limits.slot(KEY):
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                async with limits.slot(KEY):
                    pytest.fail("the slot is taken")

    async with asyncio.timeout(0.5):  # the cancelled waiter gave its place up
        async with limits.slot(KEY):
            pass
    assert limits._gates == {}  # and counted itself out of the key's users


def test_each_change_of_state_reaches_the_metrics_once(clock):
    metrics = PrometheusMetrics()
    breakers = CircuitBreakers(THRESHOLD, COOLDOWN_S, clock, metrics=metrics)

    def current() -> list[str]:
        return [
            state
            for state in ("closed", "half_open", "open")
            if metrics.registry.get_sample_value(
                "fnproxy_circuit_state", {"target": KEY, "fnproxy_circuit_state": state}
            )
        ]

    trip(breakers)
    breakers.failed(KEY)  # a late failure of an attempt admitted before: still open
    assert current() == ["open"]
    clock.now += COOLDOWN_S
    breakers.admit(KEY)
    assert current() == ["half_open"]
    breakers.succeeded(KEY)
    assert current() == ["closed"]
    breakers.succeeded("never:failed")
    assert (
        metrics.registry.get_sample_value(
            "fnproxy_circuit_state", {"target": "never:failed", "fnproxy_circuit_state": "closed"}
        )
        is None
    )
