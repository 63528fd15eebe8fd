"""The base of the typed lifecycle records (`records.py`): what every record says about itself (its scope,
step, node, message and own metadata keys) and how it becomes the lifecycle `Event` sinks and files see."""

from __future__ import annotations

from typing import ClassVar

from engine.events.event import Event, lifecycle_event
from engine.types import JSON

LIFECYCLE = "lifecycle"


class LifecycleRecord:
    """Base of the lifecycle records. `scope` is the event scope; subclasses are frozen slotted dataclasses
    with `step` first and say how they read as a message and which metadata keys they carry."""

    __slots__ = ()
    scope: ClassVar[str]
    step: int

    @property
    def node_id(self) -> str | None:
        """The node the event is about (its `node_id` metadata), if any."""
        return None

    def message(self) -> str:
        raise NotImplementedError

    def own_metadata(self) -> dict[str, JSON]:
        """The record's own metadata keys (besides node_id/step/invocation_id/now_unix_ms), in JSON order."""
        return {}

    def to_event(self, invocation_id: str, now_unix_ms: int | None) -> Event:
        """The lifecycle event of this record (what `Event.create` would build, built directly)."""
        return lifecycle_event(
            self.scope,
            self.message(),
            self.own_metadata(),
            self.node_id,
            self.step,
            invocation_id,
            now_unix_ms,
        )


__all__ = ["LIFECYCLE", "LifecycleRecord"]
