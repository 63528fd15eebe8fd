"""Production observability: OpenTelemetry spans and Prometheus metrics built from the runner's lifecycle
events, and graceful shutdown on SIGTERM/SIGINT.

Only this package's light modules (`config`, `shutdown`) are imported here. `tracing` and `metrics` import
OpenTelemetry and prometheus-client (the optional extras `otel` and `metrics`) and are imported by
`instrument()` only when tracing or metrics are actually on, so a program that turns neither on pays nothing.
"""

from engine.observability.config import Instrumentation, instrument, tracing_wanted
from engine.observability.shutdown import GracefulShutdown, ShutdownRequested, Stopped

__all__ = [
    "GracefulShutdown",
    "Instrumentation",
    "ShutdownRequested",
    "Stopped",
    "instrument",
    "tracing_wanted",
]
