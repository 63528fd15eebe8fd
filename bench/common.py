"""Shared helpers of the benchmark suite: sizes, timing, memory probes, medians and result rows."""

from __future__ import annotations

import gc
import os
import resource
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Sizes:
    """Workload sizes; `Sizes.quick()` is small enough for a smoke run."""

    chain_nodes: int = 100
    chain_invocations: int = 50
    loop_steps: int = 10_000
    fanout_width: int = 100
    fanout_invocations: int = 50
    turns: int = 1_000
    events: int = 200_000
    jsonl_events: int = 50_000
    concurrent_sessions: int = 50
    concurrent_invocations: int = 40

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            chain_nodes=100,
            chain_invocations=5,
            loop_steps=1_000,
            fanout_width=100,
            fanout_invocations=5,
            turns=100,
            events=20_000,
            jsonl_events=5_000,
            concurrent_invocations=8,
        )

    @classmethod
    def tiny(cls) -> Sizes:
        """For the unit-test smoke run: every code path, almost no work."""
        return cls(
            chain_nodes=5,
            chain_invocations=2,
            loop_steps=20,
            fanout_width=5,
            fanout_invocations=2,
            turns=3,
            events=200,
            jsonl_events=100,
            concurrent_sessions=3,
            concurrent_invocations=2,
        )

    def to_json(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_json(cls, value: dict[str, int]) -> Sizes:
        return cls(**value)


def rss_bytes() -> int:
    """Current resident set size of this process (Linux /proc; falls back to peak RSS)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return peak_rss_bytes()


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@contextmanager
def quiet_gc() -> Iterator[None]:
    """Collect before a timed section, as both engines would be measured from a clean heap."""
    gc.collect()
    yield


class Timer:
    """`with Timer() as t: ...` then `t.seconds`."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def __enter__(self) -> Timer:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


@dataclass(slots=True)
class Measure:
    """One figure measured `repeat` times: the samples and their median."""

    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return median(self.samples)

    def to_json(self) -> dict[str, Any]:
        return {"median": self.median, "samples": self.samples}


def fmt_value(value: float | None, unit: str) -> str:
    """Human formatting: 3 significant figures, thousands separators for big numbers."""
    if value is None or value != value:  # None or NaN
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f} {unit}".strip()
    if abs(value) >= 100:
        return f"{value:.0f} {unit}".strip()
    if abs(value) >= 10:
        return f"{value:.1f} {unit}".strip()
    if abs(value) >= 1:
        return f"{value:.2f} {unit}".strip()
    return f"{value:.3g} {unit}".strip()
