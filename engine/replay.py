"""Replay conformance: compare two runs' final states and event sequences."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.errors import ReplayConformanceError
from engine.events.event import Event
from engine.persistence.serde import state_to_json
from engine.state import VersionedState

Normalizer = Callable[[dict[str, Any]], Any]


@dataclass(slots=True)
class ReplayRun:
    """A finished run: its final state and the events it emitted, in order."""

    final_state: VersionedState
    events: Sequence[Event] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ReplayComparison:
    differences: list[str]

    @property
    def is_match(self) -> bool:
        return not self.differences

    def assert_matches(self) -> None:
        if self.differences:
            raise ReplayConformanceError(self.differences)


def _default_normalize(value: dict[str, Any]) -> Any:
    return value


def _event_json(event: Event | dict[str, Any]) -> dict[str, Any]:
    value = event.to_json_value() if isinstance(event, Event) else dict(event)
    value.pop("timestamp", None)
    value.pop("seq", None)
    return value


def _event_differences(a: Sequence[Any], b: Sequence[Any], normalize: Normalizer) -> list[str]:
    if len(a) != len(b):
        diffs = [f"event count differs: left={len(a)} right={len(b)}"]
    else:
        diffs = []
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        nx_, ny = normalize(_event_json(x)), normalize(_event_json(y))
        if nx_ != ny:
            diffs.append(f"event {i} differs: left={nx_!r} right={ny!r}")
            break
    return diffs


def _state_difference(a: VersionedState, b: VersionedState) -> list[str]:
    if a == b:
        return []
    ja, jb = state_to_json(a), state_to_json(b)
    for channel in ("messages", "extra", "errors"):
        if ja[channel] != jb[channel]:
            return [f"final state differs: {channel}: left={ja[channel]!r} right={jb[channel]!r}"]
    return ["final state differs"]


def compare_event_sequences_with(
    a: Sequence[Any], b: Sequence[Any], normalize: Normalizer
) -> ReplayComparison:
    return ReplayComparison(_event_differences(a, b, normalize))


def compare_event_sequences(a: Sequence[Any], b: Sequence[Any]) -> ReplayComparison:
    """Events compared without timestamps and sequence numbers."""
    return compare_event_sequences_with(a, b, _default_normalize)


def compare_replay_runs_with(a: ReplayRun, b: ReplayRun, normalize: Normalizer) -> ReplayComparison:
    diffs = _state_difference(a.final_state, b.final_state)
    diffs += _event_differences(a.events, b.events, normalize)
    return ReplayComparison(diffs)


def compare_replay_runs(a: ReplayRun, b: ReplayRun) -> ReplayComparison:
    """State first, then the event count, then the first differing event."""
    return compare_replay_runs_with(a, b, _default_normalize)
