"""`Event.to_json_string` builds the usual event's text around one encode of its metadata; every event, usual
or not, gets exactly the text the general encoder gives (`to_json_value` through strict compact JSON), and
it parses back to an equal event."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from engine.events.event import Event, lifecycle_event


def general(event: Event) -> str:
    value: Any = event.to_json_value()
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").replace("\x85", "\\u0085")


USUAL = [
    Event.create("node", "work", "plain", node_id="n", step=3, invocation_id="s"),
    Event.create(
        "node", "x", 'quotes " \\ \n\t \x01 ünï ☃ \U0001f600', metadata={"k": "é", "f": 0.1, "big": 10**20}
    ),
    Event.create("node", "x", "m", metadata={"l": [1, [2, {"x": None}]], "t": True}),
    Event.create("node", "x", "whole second", timestamp=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)),
    Event("diagnostic", "s", "m", {"a": [1, {"b": None}]}, seq=7),
    lifecycle_event("step.start", "step 1: a", {"frontier": ["a"]}, None, 1, "s", 1_700_000_000_123),
]
UNUSUAL = [
    Event.create("node", "x", "not finite", metadata={"nan": float("nan"), "inf": float("inf")}),
    Event.create(
        "node",
        "x",
        "not UTC",
        timestamp=dt.datetime(2020, 1, 1, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    ),
]


@pytest.mark.parametrize("event", USUAL, ids=lambda e: e.message[:12])
def test_usual_events_take_the_short_path_to_the_same_text(event: Event) -> None:
    assert event._fast_json() is not None
    text = event.to_json_string()
    assert text == general(event)
    assert Event.from_json(text) == event


@pytest.mark.parametrize("event", UNUSUAL, ids=lambda e: e.message)
def test_unusual_events_take_the_general_path(event: Event) -> None:
    assert event._fast_json() is None
    text = event.to_json_string()
    json.loads(text)  # strict JSON either way
    if event.message == "not UTC":
        assert text == general(event) and '"timestamp":"2020-01-01T03:00:00Z"' in text
    else:
        assert '"nan":null,"inf":null' in text


def test_values_json_lacks_become_strings_on_the_short_path() -> None:
    event = Event.create("node", "x", "odd values", metadata={"when": dt.date(2020, 1, 2)})
    assert event._fast_json() is not None
    assert event.to_json_string() == general(event)
    assert '"when":"2020-01-02"' in event.to_json_string()


def test_line_separators_are_escaped_on_both_paths() -> None:
    usual = Event.create("node", "x", "a\u2028b\u2029c\x85d", metadata={"k\u2028": "v"})
    unusual = Event.create("node", "x", "a\u2028b", metadata={"f": float("nan")})
    for event in (usual, unusual):
        text = event.to_json_string()
        assert "\u2028" not in text and "\u2029" not in text and "\x85" not in text
        assert len(text.splitlines()) == 1
    assert Event.from_json(usual.to_json_string()) == usual
