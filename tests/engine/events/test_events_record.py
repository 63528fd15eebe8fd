"""The event record: JSON shape, round trips, RFC 3339 timestamps, sentinels and LLM scopes."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.events.event import (
    INVOCATION_END_SCOPE,
    LLM_SCOPES,
    RESERVED_SCOPES,
    STREAM_END_SCOPE,
    Event,
    end_message,
)

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$")

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
timestamps = st.datetimes(
    min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(2200, 1, 1), timezones=st.just(dt.UTC)
)


@st.composite
def events(draw: st.DrawFn) -> Event:
    type_ = draw(st.sampled_from(["node", "diagnostic", "llm", "lifecycle"]))
    scope = draw(st.text(max_size=20).filter(lambda s: s not in RESERVED_SCOPES))
    return Event.create(
        type_,
        scope,
        draw(st.text(max_size=40)),
        node_id=draw(st.none() | st.text(min_size=1, max_size=10)),
        step=draw(st.none() | st.integers(min_value=0, max_value=10**9)),
        invocation_id=draw(st.none() | st.text(max_size=10)),
        now_unix_ms=draw(st.none() | st.integers(min_value=0, max_value=2**42)),
        metadata=draw(st.dictionaries(st.text(max_size=8), json_values, max_size=5)),
        timestamp=draw(st.none() | timestamps),
    )


@given(events(), st.integers(min_value=-1, max_value=2**40))
def test_json_value_round_trip(event: Event, seq: int) -> None:
    object.__setattr__(event, "seq", seq)
    assert Event.from_json(event.to_json_value()) == event


@given(events())
def test_json_string_round_trip_and_shape(event: Event) -> None:
    text = event.to_json_string()
    assert len(text.splitlines()) == 1  # one line for every splitter (U+2028 and friends are escaped)
    value = json.loads(text)
    assert set(value) == {"type", "scope", "message", "timestamp", "seq", "metadata"}
    assert RFC3339.match(value["timestamp"]), value["timestamp"]
    assert Event.from_json(text) == event
    assert Event.from_json(text.encode()) == event
    assert Event.from_json(event.to_json_pretty()) == event


def test_structured_keys_win_and_mirror_fields() -> None:
    event = Event.create(
        "node",
        "progress",
        "hi",
        node_id="A",
        step=3,
        invocation_id="s1",
        now_unix_ms=1_700_000_000_123,
        metadata={"node_id": "fake", "step": 99, "mine": [1, 2]},
    )
    assert event.metadata == {
        "node_id": "A",
        "step": 3,
        "invocation_id": "s1",
        "now_unix_ms": 1_700_000_000_123,
        "mine": [1, 2],
    }
    assert (event.node_id, event.step, event.invocation_id, event.now_unix_ms) == (
        "A",
        3,
        "s1",
        1_700_000_000_123,
    )
    # The timestamp comes from the clock reading, exactly.
    assert event.timestamp == dt.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=dt.UTC)
    assert event.to_json_value()["timestamp"] == "2023-11-14T22:13:20.123000Z"


def test_direct_construction_keeps_fields_and_metadata_in_agreement() -> None:
    event = Event("node", "s", "m", node_id="B", step=2, timestamp=dt.datetime(2024, 1, 1))
    assert event.metadata == {"node_id": "B", "step": 2}
    assert event.timestamp.tzinfo is not None
    assert Event.from_json(event.to_json_string()) == event
    other = Event("node", "s", "m", metadata={"node_id": "C", "step": 5})
    assert (other.node_id, other.step) == ("C", 5)


def test_timestamps_are_rfc3339_utc() -> None:
    event = Event.create("node", "s", "m")
    stamp = event.to_json_value()["timestamp"]
    assert isinstance(stamp, str) and RFC3339.match(stamp) and stamp.endswith("Z")
    assert abs(event.timestamp - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=5)
    paris = dt.timezone(dt.timedelta(hours=1))
    shifted = Event.create("node", "s", "m", timestamp=dt.datetime(2024, 5, 1, 13, 0, tzinfo=paris))
    assert shifted.to_json_value()["timestamp"] == "2024-05-01T12:00:00Z"


def test_unicode_line_separators_are_escaped() -> None:
    event = Event.create("node", "s", "a\u2028b\u2029c\x85d\ne")
    text = event.to_json_string()
    assert text.splitlines() == [text]
    assert Event.from_json(text) == event


def test_non_finite_floats_still_give_strict_json() -> None:
    event = Event.create("node", "s", "m", metadata={"nan": float("nan"), "xs": [float("inf"), 1.5]})
    value = json.loads(event.to_json_string(), parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    assert value["metadata"] == {"nan": None, "xs": [None, 1.5]}


def test_from_json_rejects_non_objects() -> None:
    with pytest.raises(ValueError, match="JSON object"):
        Event.from_json("[1, 2]")
    with pytest.raises(ValueError, match="metadata"):
        Event.from_json({"type": "node", "metadata": [1]})


@pytest.mark.parametrize("scope", LLM_SCOPES)
def test_llm_scopes_are_never_sentinels(scope: str) -> None:
    event = Event.llm(scope, "tok", stream_id="s1", node_id="A", step=1)
    assert event.type == "llm" and event.scope == scope
    assert event.scope not in (STREAM_END_SCOPE, INVOCATION_END_SCOPE)
    assert not event.is_stream_end and not event.is_invocation_end
    assert event.metadata["stream_id"] == "s1"


@given(st.text(max_size=30))
def test_llm_helper_only_accepts_llm_scopes(scope: str) -> None:
    if scope in LLM_SCOPES:
        assert Event.llm(scope, "x").scope not in RESERVED_SCOPES
    else:
        with pytest.raises(ValueError, match="LLM event scope"):
            Event.llm(scope, "x")


@pytest.mark.parametrize("type_", ["node", "llm", "lifecycle"])
@pytest.mark.parametrize("scope", sorted(RESERVED_SCOPES))
def test_sentinel_scopes_are_reserved_for_diagnostics(type_: str, scope: str) -> None:
    with pytest.raises(ValueError, match="reserved"):
        Event.create(type_, scope, "fake end")
    end = Event.create("diagnostic", scope, end_message("s", "completed", 2))
    assert end.is_stream_end == (scope == STREAM_END_SCOPE)
    assert end.is_invocation_end == (scope == INVOCATION_END_SCOPE)


def test_end_message_format() -> None:
    assert end_message("run-1", "completed", 3) == "session=run-1 status=completed step=3"
    assert end_message("s", "error", 2, "boom") == "session=s status=error step=2 error=boom"
