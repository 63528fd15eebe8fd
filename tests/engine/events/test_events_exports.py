"""The public names of engine.events are pinned; each is importable and documented."""

from __future__ import annotations

import engine.events

EXPECTED = {
    "DEFAULT_CLOSE_TIMEOUT",
    "EVENT_TYPES",
    "INVOCATION_END_SCOPE",
    "LLM_SCOPES",
    "RESERVED_SCOPES",
    "SINK_ERROR_SCOPE",
    "STREAM_END_SCOPE",
    "BusMetrics",
    "ChannelSink",
    "DiagnosticStream",
    "Event",
    "EventBus",
    "EventBusError",
    "EventType",
    "FunctionSink",
    "JsonLinesSink",
    "MemorySink",
    "Sink",
    "SinkDiagnostic",
    "SinkHealth",
    "StdOutSink",
    "Subscription",
    "end_message",
}


def test_exported_names_are_pinned() -> None:
    assert set(engine.events.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(engine.events, name) is not None


def test_public_classes_have_docstrings() -> None:
    for name in EXPECTED:
        value = getattr(engine.events, name)
        if isinstance(value, type):
            assert value.__doc__, name
