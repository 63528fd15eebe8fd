"""Turning tracing and metrics on: `instrument(bus, ...)` attaches the tracing and metrics sinks to an event
bus, deciding from its arguments and the standard `OTEL_*` environment variables.

Nothing here imports OpenTelemetry or prometheus-client: the sinks' modules are imported only when they are
on. Missing extras, like every other observability problem, cost one warning line and never stop a run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.observability.warn import Warn

log = logging.getLogger("engine.observability")


_TRUE = ("true", "1", "yes", "on")
_ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def _log_warning(text: str) -> None:
    log.warning("%s", text)


def tracing_wanted(environ: Mapping[str, str] | None = None) -> bool:
    """True when the environment asks for traces: `OTEL_TRACES_EXPORTER` names an exporter other than
    "none", or an OTLP endpoint is set; and `OTEL_SDK_DISABLED` is not true."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() in _TRUE:
        return False
    exporters = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporters:
        return any(name.strip() not in ("", "none") for name in exporters.split(","))
    return any(env.get(name, "").strip() for name in _ENDPOINT_VARS)


@dataclass(frozen=True, slots=True)
class Instrumentation:
    """What `instrument()` attached: the tracing sink and the metrics sink (None when off)."""

    tracing: Any = None
    metrics: Any = None

    @property
    def active(self) -> bool:
        """True when a sink was attached (as a run observer of the bus: the runner the bus is given to
        calls it directly, lifecycle events on or off)."""
        return self.tracing is not None or self.metrics is not None

    def continue_trace(self, session_id: str, carrier: Mapping[str, str]) -> None:
        """Make the next run of `session_id` a child of the W3C trace context in `carrier` (a queue job's
        `traceparent`/`tracestate`); nothing when tracing is off."""
        if self.tracing is not None:
            self.tracing.continue_trace(session_id, carrier)


def _tracing_on(tracing: Any, env: Mapping[str, str]) -> bool:
    if tracing is None:
        return tracing_wanted(env)
    if tracing is False:
        return False
    return tracing is not True or env.get("OTEL_SDK_DISABLED", "").strip().lower() not in _TRUE


def _bus_of(builder: Any) -> tuple[Any, Any]:
    """The event bus and app of an `AppRunnerBuilder`; a bus is made (as `build()` would) when none was set.
    Lifecycle events stay as they are: the sinks are run observers the runner calls directly."""
    app = getattr(builder, "_app", None)
    bus = getattr(builder, "_bus", None)
    if bus is None:
        if app is None:
            raise ValueError("instrument(builder) needs the builder's .app(app) first")
        bus = app.runtime_config.event_bus.build()
        builder.event_bus(bus)
    return bus, app


def instrument(
    target: Any,
    *,
    app: Any = None,
    graph_name: str | None = None,
    tracing: Any = None,
    metrics: Any = None,
    environ: Mapping[str, str] | None = None,
    warn: Warn | None = None,
) -> Instrumentation:
    """Attach tracing and/or metrics sinks to an event bus and say which.

    `target`: an `EventBus` (attach before the runner it is given to is built), or an `AppRunnerBuilder`
    (called after `.app(...)`: its bus gets the sinks, one is made when it has none). The tracing sink is a
    run observer of the bus (`bus.add_observer`): the runner hands it its lifecycle records directly, so no
    lifecycle events are published for it; the metrics sink is an observer and a bus sink (event counts).

    `tracing`: None = on when the `OTEL_*` environment asks for it (`tracing_wanted`); False = off; True =
    on (exporters from `OTEL_*`); or a `TracerProvider` to use. `OTEL_SDK_DISABLED=true` turns it off
    unless a provider is given. `metrics`: None/False = off; True = prometheus-client's default registry; or
    a `CollectorRegistry`. `app` (and `graph_name`) label the run spans. `warn` receives the one-line
    warnings (default: the "engine.observability" logger).
    """
    env = os.environ if environ is None else environ
    say = warn if warn is not None else _log_warning
    make_tracing: Any = None
    make_metrics: Any = None
    if _tracing_on(tracing, env):
        try:
            from engine.observability.tracing import tracing_sink_for as make_tracing
        except ImportError as exc:
            say(
                f"weavegraph: warning: tracing is off: OpenTelemetry is not installed ({exc.name}); "
                "install the 'otel' extra"
            )
    if metrics is not None and metrics is not False:
        try:
            from engine.observability.metrics import MetricsSink as make_metrics
        except ImportError as exc:
            say(
                f"weavegraph: warning: metrics are off: prometheus-client is not installed ({exc.name}); "
                "install the 'metrics' extra"
            )
    if make_tracing is None and make_metrics is None:
        return Instrumentation()
    if hasattr(target, "lifecycle_events") and hasattr(target, "event_bus"):
        bus, builder_app = _bus_of(target)
        app = app if app is not None else builder_app
    else:
        bus = target
    tracing_sink = metrics_sink = None
    if make_tracing is not None:
        provider = None if tracing is True or tracing is None else tracing
        try:
            tracing_sink = make_tracing(provider, app=app, graph_name=graph_name, environ=env, warn=say)
        except Exception as exc:  # a bad OTEL_* setting: the run goes on untraced
            say(f"weavegraph: warning: tracing is off: {type(exc).__name__}: {exc}")
        else:
            bus.add_observer(tracing_sink)  # records straight from the runner: no events to pay for
    if make_metrics is not None:
        metrics_sink = make_metrics(None if metrics is True else metrics, bus=bus)
        bus.add_sink(metrics_sink)  # counts the other events (and reads the sinks' drops)
        bus.add_observer(metrics_sink)  # the runner's records, directly
    return Instrumentation(tracing_sink, metrics_sink)
