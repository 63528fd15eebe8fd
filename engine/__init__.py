"""Weavegraph engine: graphs of nodes run in supersteps, with events and checkpoints.

Everything public is importable from here (`from engine import GraphBuilder, AppRunner, ...`).
"""

from __future__ import annotations

__version__ = "0.1.0"

from typing import Any

from engine.app import App, GraphMetadata, InvocationHandle
from engine.clock import Clock, MockClock, SystemClock
from engine.errors import (
    CheckpointConflict,
    CheckpointerError,
    CycleDetected,
    DuplicateEdge,
    EdgeFromEnd,
    EngineError,
    GraphCompileError,
    InvalidIterativeEntry,
    MissingEntry,
    MissingInput,
    NodeError,
    NodeRunError,
    NoPathToEnd,
    NoStartNodes,
    ProviderError,
    ReplayConformanceError,
    RoutingError,
    RunnerError,
    SessionNotFound,
    StateSlotDeserialize,
    StateSlotError,
    StateSlotMissing,
    StateSlotSerialize,
    StepLimitExceeded,
    UnknownNode,
    UnreachableNodes,
    ValidationFailed,
)
from engine.events import (
    INVOCATION_END_SCOPE,
    STREAM_END_SCOPE,
    ChannelSink,
    Event,
    EventBus,
    JsonLinesSink,
    MemorySink,
    Sink,
    SinkDiagnostic,
    SinkHealth,
    StdOutSink,
)
from engine.graph.builder import ConditionalEdge, GraphBuilder
from engine.node import Node, NodeContext
from engine.partial import Append, FrontierCommand, NodePartial, Replace
from engine.persistence import (
    Checkpoint,
    Checkpointer,
    CheckpointerType,
    InMemoryCheckpointer,
    PrunePolicy,
    PruneReport,
    SessionStats,
    SQLiteCheckpointer,
    StepQuery,
    StepQueryResult,
    StorageStats,
)
from engine.reducers import AddErrors, AddMessages, MapMerge, Reducer
from engine.replay import (
    ReplayComparison,
    ReplayRun,
    compare_event_sequences,
    compare_event_sequences_with,
    compare_replay_runs,
    compare_replay_runs_with,
)
from engine.runner import (
    AppRunner,
    AppRunnerBuilder,
    PausedReport,
    RunMetadata,
    SessionInit,
    SessionState,
    StepOptions,
    StepReport,
)
from engine.runtime_config import EventBusConfig, RuntimeConfig
from engine.state import StateKey, StateSnapshot, VersionedState, VersionedStateBuilder
from engine.types import ErrorEvent, ErrorScope, Message, NodeKind, Role, WeaveError


def __getattr__(name: str) -> Any:
    # PostgresCheckpointer needs asyncpg (the optional `postgres` extra); import it only when asked for.
    if name == "PostgresCheckpointer":
        from engine.persistence.postgres import PostgresCheckpointer

        return PostgresCheckpointer
    raise AttributeError(f"module 'engine' has no attribute {name!r}")


__all__ = [
    "INVOCATION_END_SCOPE",
    "STREAM_END_SCOPE",
    "AddErrors",
    "AddMessages",
    "Append",
    "App",
    "AppRunner",
    "AppRunnerBuilder",
    "ChannelSink",
    "Checkpoint",
    "CheckpointConflict",
    "Checkpointer",
    "CheckpointerError",
    "CheckpointerType",
    "Clock",
    "ConditionalEdge",
    "CycleDetected",
    "DuplicateEdge",
    "EdgeFromEnd",
    "EngineError",
    "ErrorEvent",
    "ErrorScope",
    "Event",
    "EventBus",
    "EventBusConfig",
    "FrontierCommand",
    "GraphBuilder",
    "GraphCompileError",
    "GraphMetadata",
    "InMemoryCheckpointer",
    "InvalidIterativeEntry",
    "InvocationHandle",
    "JsonLinesSink",
    "MapMerge",
    "MemorySink",
    "Message",
    "MissingEntry",
    "MissingInput",
    "MockClock",
    "NoPathToEnd",
    "NoStartNodes",
    "Node",
    "NodeContext",
    "NodeError",
    "NodeKind",
    "NodePartial",
    "NodeRunError",
    "PausedReport",
    "PostgresCheckpointer",
    "ProviderError",
    "PrunePolicy",
    "PruneReport",
    "Reducer",
    "Replace",
    "ReplayComparison",
    "ReplayConformanceError",
    "ReplayRun",
    "Role",
    "RoutingError",
    "RunMetadata",
    "RunnerError",
    "RuntimeConfig",
    "SQLiteCheckpointer",
    "SessionInit",
    "SessionNotFound",
    "SessionState",
    "SessionStats",
    "Sink",
    "SinkDiagnostic",
    "SinkHealth",
    "StateKey",
    "StateSlotDeserialize",
    "StateSlotError",
    "StateSlotMissing",
    "StateSlotSerialize",
    "StateSnapshot",
    "StdOutSink",
    "StepLimitExceeded",
    "StepOptions",
    "StepQuery",
    "StepQueryResult",
    "StepReport",
    "StorageStats",
    "SystemClock",
    "UnknownNode",
    "UnreachableNodes",
    "ValidationFailed",
    "VersionedState",
    "VersionedStateBuilder",
    "WeaveError",
    "__version__",
    "compare_event_sequences",
    "compare_event_sequences_with",
    "compare_replay_runs",
    "compare_replay_runs_with",
]
