"""Clocks: the system clock and a mock clock for reproducible runs."""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """What the runner needs from a clock: seconds and milliseconds since the Unix epoch."""

    def now(self) -> float: ...

    def now_unix_ms(self) -> int: ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> float:
        return time.time()

    def now_unix_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def __repr__(self) -> str:
        return "SystemClock()"


class MockClock:
    """A clock that only moves when told to, so a run stamped with it is reproducible."""

    def __init__(self, start_seconds: float = 0.0) -> None:
        self._now = float(start_seconds)

    def now(self) -> float:
        return self._now

    def now_unix_ms(self) -> int:
        return round(self._now * 1000)

    def advance(self, seconds: float) -> None:
        self._now += seconds

    def set_time(self, seconds: float) -> None:
        self._now = float(seconds)

    def __repr__(self) -> str:
        return f"MockClock({self._now})"
