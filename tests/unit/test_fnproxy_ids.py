"""What an fnproxy id is (`core.models.new_id`): 32 lowercase hex digits whose first 12 are the
millisecond it was made, so no id comes from the future. Execution references must carry one."""

import time
import uuid

import pytest

from core.events.messages import MalformedMessage, decode_message
from core.models import ID_CLOCK_AHEAD_S, id_time, new_id


def id_at(epoch: float) -> str:
    return f"{int(epoch * 1000):012x}{uuid.uuid4().hex[:20]}"


def test_a_new_id_tells_when_it_was_made():
    before = time.time()
    made = id_time(new_id())
    assert before - 0.001 <= made <= time.time()


def test_an_id_from_a_clock_a_little_ahead_is_taken():
    ahead = time.time() + ID_CLOCK_AHEAD_S - 60
    assert id_time(id_at(ahead)) == pytest.approx(ahead, abs=0.001)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "32 lowercase hex digits"),
        ("0190f1c2a3b4c5d6e7f8a9b0c1d2e3f", "32 lowercase hex digits"),
        ("0190F1C2A3B4C5D6E7F8A9B0C1D2E3F4", "32 lowercase hex digits"),
        ("0190f1c2-a3b4-c5d6-e7f8-a9b0c1d2", "32 lowercase hex digits"),
        ("f47ac10b58cc4372a5670e02b2c3d479", "in the future"),  # RFC 4122's sample uuid4
        ("f" * 32, "in the future"),
    ],
)
def test_anything_else_is_refused_with_the_reason(value, reason):
    with pytest.raises(ValueError, match=reason):
        id_time(value)


def test_an_id_from_a_clock_a_day_ahead_is_refused():
    with pytest.raises(ValueError, match="in the future"):
        id_time(id_at(time.time() + ID_CLOCK_AHEAD_S + 60))


def test_an_execution_reference_with_a_foreign_id_is_malformed():
    with pytest.raises(MalformedMessage, match="execution_id: Value error, not an fnproxy id"):
        decode_message('{"execution_id": "f47ac10b58cc4372a5670e02b2c3d479"}')
