"""Channel reducers: how a merged partial is applied to the state at the barrier."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from engine.partial import NodePartial
from engine.state import VersionedState

CHANNELS = ("messages", "extra", "errors")


class Reducer(ABC):
    """Applies one channel of a merged partial to the state (never touching versions)."""

    channel: ClassVar[str] = ""

    @abstractmethod
    def apply(self, state: VersionedState, merged: NodePartial) -> None:
        """Mutate `state`'s channel from `merged`; the barrier bumps versions afterwards."""

    def definition_label(self) -> str:
        cls = type(self)
        return f"{cls.__module__}.{cls.__qualname__}"


class AddMessages(Reducer):
    """Appends the partial's messages."""

    channel = "messages"

    def apply(self, state: VersionedState, merged: NodePartial) -> None:
        if merged.messages:
            state.messages.extend(merged.messages)


class MapMerge(Reducer):
    """Shallow-merges the partial's extra; a None value deletes the key."""

    channel = "extra"

    def apply(self, state: VersionedState, merged: NodePartial) -> None:
        if merged.extra:
            extra = state.extra
            for key, value in merged.extra.items():
                if value is None:
                    extra.pop(key, None)
                else:
                    extra[key] = value


class AddErrors(Reducer):
    """Appends the partial's errors."""

    channel = "errors"

    def apply(self, state: VersionedState, merged: NodePartial) -> None:
        if merged.errors:
            state.errors.extend(merged.errors)


DEFAULT_REDUCERS: dict[str, Reducer] = {
    "messages": AddMessages(),
    "extra": MapMerge(),
    "errors": AddErrors(),
}
