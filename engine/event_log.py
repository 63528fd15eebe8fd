"""Stored events (ENGINE.md 8.1, `persist_events`): every event the runner publishes for a session, kept in
seq order until the session's next checkpoint save (same transaction) or the end of its run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.events.event import Event


class EventLog:
    """Buffers published events per session (by the `invocation_id` the runner stamps) until taken."""

    __slots__ = ("_pending", "_publish")

    def __init__(self, publish: Callable[[Event], Any]) -> None:
        self._publish = publish
        self._pending: dict[str, list[Event]] = {}

    def publish(self, event: Event) -> Any:
        """Publish through the bus and keep the stamped copy (the bus's own handoff copies are not kept)."""
        out = self._publish(event)
        if isinstance(out, Event) and out.seq >= 0:
            sid = out.metadata.get("invocation_id")
            if type(sid) is str:
                found = self._pending.get(sid)
                if found is None:
                    self._pending[sid] = [out]
                else:
                    found.append(out)
        return out

    def take(self, session_id: str) -> list[Event]:
        return self._pending.pop(session_id, [])

    def put_back(self, session_id: str, events: list[Event]) -> None:
        """Events a failed save did not store go back in front of any newer ones."""
        self._pending[session_id] = [*events, *self._pending.get(session_id, ())]

    def sessions(self) -> list[str]:
        return list(self._pending)


class LoggingBus:
    """The runner's bus with `publish` going through an `EventLog`; everything else is the bus's."""

    def __init__(self, bus: Any, log: EventLog) -> None:
        self._bus = bus
        self.publish = log.publish

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bus, name)
