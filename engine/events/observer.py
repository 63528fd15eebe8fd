"""Run observers: direct, cheap hooks the runner and the executor call, for tracing and metrics (issue 22).

Publishing lifecycle events costs an `Event` per record, a `seq`, a queue append per sink and a worker
wake-up; an observer instead gets the typed record itself (or, for a node's start and end, plain arguments:
no record is built) with a timestamp, synchronously on the loop. Nothing is called, and nothing extra is
built, when no observer is attached: the runner's default is an empty tuple.

Observers are attached to an `EventBus` (`bus.add_observer(obs)`, which is how `instrument()` hands them to
the runner the bus is given to); the runner reads them when it is built. An observer must be quick and must
not raise: a failure is logged once per observer and otherwise ignored, the run goes on.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol, runtime_checkable

from engine.events.records import LifecycleRecord

__all__ = [
    "RunObserver",
    "notify_node_finished",
    "notify_node_started",
    "notify_record",
    "notify_step_finished",
    "now_ns",
]

log = logging.getLogger("engine.events")
now_ns = time.time_ns
"""Observer timestamps: nanoseconds since the epoch (a runner with a clock passes the clock's time)."""


@runtime_checkable
class RunObserver(Protocol):
    """What the runner calls. `t_ns` is when it happened (epoch nanoseconds). `error` is given with a
    `RunEnd` whose status is "error": the text the runner's end event carries.

    Records the runner builds anyway (run start/end, node failures and retries, saves, dropped routes) are
    always observed. Step records (`StepStart`, `StepEnd`, `NodeSkip`) are built only when an observer
    does not say `wants_steps = False`, `EdgeRouted` only when one does not say `wants_edges = False`
    (or lifecycle events are on), and `node_started` is called unless it says `wants_node_starts = False`.
    With lifecycle events on, a node's start and end come as `NodeStart` /
    `NodeFinish` records instead of `node_started` / `node_finished`."""

    def observe(self, session_id: str, record: LifecycleRecord, t_ns: int, error: str | None) -> None:
        """A lifecycle record (run, step, skip, failure, retry, save, routing)."""

    def node_started(self, session_id: str, step: int, node: str, t_ns: int) -> None:
        """A node run begins."""

    def node_finished(
        self, session_id: str, step: int, node: str, t_ns: int, duration_ms: float, attempts: int | None
    ) -> None:
        """A node run ended successfully after `duration_ms` (`attempts` only for a guarded node)."""

    def step_finished(self, session_id: str, step: int, t_ns: int) -> None:
        """A superstep ran its nodes, merged them at the barrier and routed (before its save)."""


_failed: set[int] = set()


def _failure(observer: object, exc: Exception) -> None:
    if id(observer) not in _failed:
        _failed.add(id(observer))
        log.warning(
            "run observer %r failed: %s: %s (later failures are not logged)",
            observer,
            type(exc).__name__,
            exc,
        )


def notify_record(
    observers: tuple[RunObserver, ...], session_id: str, record: LifecycleRecord, t_ns: int, error: str | None
) -> None:
    for observer in observers:
        try:
            observer.observe(session_id, record, t_ns, error)
        except Exception as exc:
            _failure(observer, exc)


def notify_node_started(
    observers: tuple[RunObserver, ...], session_id: str, step: int, node: str, t_ns: int
) -> None:
    for observer in observers:
        try:
            observer.node_started(session_id, step, node, t_ns)
        except Exception as exc:
            _failure(observer, exc)


def notify_node_finished(
    observers: tuple[RunObserver, ...],
    session_id: str,
    step: int,
    node: str,
    t_ns: int,
    duration_ms: float,
    attempts: int | None,
) -> None:
    for observer in observers:
        try:
            observer.node_finished(session_id, step, node, t_ns, duration_ms, attempts)
        except Exception as exc:
            _failure(observer, exc)


def notify_step_finished(observers: tuple[RunObserver, ...], session_id: str, step: int, t_ns: int) -> None:
    for observer in observers:
        try:
            observer.step_finished(session_id, step, t_ns)
        except Exception as exc:
            _failure(observer, exc)
