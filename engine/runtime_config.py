"""Runtime configuration of an App and its hash."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.clock import Clock
from engine.hashing import fnv1a_parts
from engine.persistence.base import CheckpointerType


@dataclass(slots=True)
class EventBusConfig:
    """How the runner builds its event bus: queue capacity per sink/subscriber, and the sinks."""

    buffer_capacity: int = 1024
    sinks: Sequence[Any] = ()

    def build(self) -> Any:
        from engine.events.bus import EventBus

        return EventBus(buffer_capacity=self.buffer_capacity, sinks=list(self.sinks))


@dataclass(slots=True)
class RuntimeConfig:
    """Per-App runtime settings. `session_id` fixes the id the App helpers use (else "run-<uuid4>")."""

    session_id: str | None = None
    sqlite_db_name: str | None = None
    event_bus: EventBusConfig = field(default_factory=EventBusConfig)
    clock: Clock | None = None
    checkpointer: CheckpointerType | None = None
    custom_checkpointer: Any = None
    max_steps: int | None = None
    concurrency_limit: int | None = None
    graph_name: str | None = None
    """Stored in the session info (ENGINE.md 8.2); not a part of `config_hash()`."""

    def config_hash(self) -> str:
        parts = [
            "weavegraph-runtime-config-v1",
            f"session_id:{self.session_id if self.session_id is not None else '<none>'}",
            f"sqlite_db_name:{self.sqlite_db_name if self.sqlite_db_name is not None else '<none>'}",
            f"checkpointer:{self.checkpointer.value if self.checkpointer is not None else '<none>'}",
            f"custom_checkpointer:{'true' if self.custom_checkpointer is not None else 'false'}",
            f"clock:{'configured' if self.clock is not None else 'unset'}",
            f"event_buffer:{self.event_bus.buffer_capacity}",
        ]
        for i, sink in enumerate(self.event_bus.sinks):
            parts.append(f"event_sink:{i}:{getattr(sink, 'name', type(sink).__name__)}")
        parts.append(f"max_steps:{self.max_steps if self.max_steps is not None else '<none>'}")
        parts.append(
            f"concurrency_limit:{self.concurrency_limit if self.concurrency_limit is not None else '<none>'}"
        )
        return fnv1a_parts(parts)
