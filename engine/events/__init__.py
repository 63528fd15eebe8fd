"""Events: the event record, the event bus and its sinks."""

from engine.events.bus import DEFAULT_CLOSE_TIMEOUT, EventBus, EventBusError
from engine.events.event import (
    EVENT_TYPES,
    INVOCATION_END_SCOPE,
    LLM_SCOPES,
    RESERVED_SCOPES,
    STREAM_END_SCOPE,
    Event,
    EventType,
    end_message,
)
from engine.events.health import SINK_ERROR_SCOPE, BusMetrics, SinkDiagnostic, SinkHealth
from engine.events.sinks import (
    ChannelSink,
    FunctionSink,
    JsonLinesSink,
    MemorySink,
    Sink,
    StdOutSink,
)
from engine.events.subscription import DiagnosticStream, Subscription

__all__ = [
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
]
