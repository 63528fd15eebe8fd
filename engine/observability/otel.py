"""OpenTelemetry set-up for the tracing sink: a `TracerProvider` from the standard `OTEL_*` variables (shared
by every bus of the process), an exporter guard that turns an unreachable collector into one warning line, and
the W3C trace context (`traceparent`) carried in a plain dict, e.g. a queue job."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagators.textmap import default_getter, default_setter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from engine.observability.warn import Warn

__all__ = [
    "DEFAULT_EXPORT_TIMEOUT_S",
    "GuardedExporter",
    "extract_trace_context",
    "inject_trace_context",
    "provider_from_env",
    "shared_env_provider",
]

_PROPAGATOR = TraceContextTextMapPropagator()
_EXPORTER_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.sdk.trace.export",
    "opentelemetry.sdk._shared_internal",
)
DEFAULT_EXPORT_TIMEOUT_S = 3.0
"""OTLP export timeout (retries included) unless `OTEL_EXPORTER_OTLP[_TRACES]_TIMEOUT` says otherwise: a
dead collector delays the end of a command by at most this long."""


# ---------------------------------------------------------------- trace context in job dicts


def inject_trace_context(
    carrier: dict[str, str], context: otel_context.Context | None = None
) -> dict[str, str]:
    """Write the W3C `traceparent` (and `tracestate`) of `context` (default: the current one) into
    `carrier`; returns it. Nothing is written when there is no valid span."""
    _PROPAGATOR.inject(carrier, context=context, setter=default_setter)
    return carrier


def extract_trace_context(carrier: Mapping[str, str]) -> otel_context.Context:
    """The context a `traceparent` in `carrier` describes (an empty context when it has none or a bad one)."""
    return _PROPAGATOR.extract(carrier, getter=default_getter)


# ---------------------------------------------------------------- providers and exporters


class _Quiet(logging.Filter):
    """Keeps the OTLP exporter's own log lines (one per retry) off stderr; `GuardedExporter` reports the
    failure once instead, quoting the first line of its last export."""

    def __init__(self) -> None:
        super().__init__()
        self.last: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if self.last is None:  # the first line says why (e.g. "Transient error ... Connection refused")
            self.last = record.getMessage().splitlines()[0].split(" encountered while")[0][:300]
        return False


_QUIET = _Quiet()


class GuardedExporter(SpanExporter):
    """Wraps an exporter so that a collector that cannot be reached costs one warning line: after a
    failure the spans of the next `pause_s` seconds are dropped at once (the run never waits on a dead
    endpoint again); a success after that re-arms the warning."""

    def __init__(self, inner: SpanExporter, target: str, warn: Warn, pause_s: float = 30.0) -> None:
        self.inner = inner
        self.target = target
        self._warn = warn
        self._pause_s = pause_s
        self._quiet_until = 0.0
        self._warned = False
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if time.monotonic() < self._quiet_until:
            return SpanExportResult.FAILURE
        reason = ""
        _QUIET.last = None
        try:
            result = self.inner.export(spans)
        except Exception as exc:  # an exporter bug must not take the batch thread down
            result, reason = SpanExportResult.FAILURE, f"{type(exc).__name__}: {exc}"
        with self._lock:
            if result is SpanExportResult.SUCCESS:
                self._warned = False
                return result
            self._quiet_until = time.monotonic() + self._pause_s
            if not self._warned:
                self._warned = True
                detail = reason or _QUIET.last or "export failed"
                self._warn(
                    f"weavegraph: warning: cannot export traces to {self.target} ({detail}); "
                    "the run goes on without them"
                )
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def _otlp_endpoint(env: Mapping[str, str]) -> str:
    explicit = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    if explicit:
        return explicit
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip() or "http://localhost:4318"
    return base.rstrip("/") + "/v1/traces"


def provider_from_env(env: Mapping[str, str], warn: Warn) -> TracerProvider:
    """A `TracerProvider` configured by the standard variables: `OTEL_SERVICE_NAME` (default
    "weavegraph"), `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_EXPORTER` ("otlp" when
    unset; "console"; "none") and the OTLP/HTTP exporter's `OTEL_EXPORTER_OTLP_*` (endpoint, headers,
    timeout). Spans leave through a `BatchSpanProcessor` (`OTEL_BSP_*`)."""
    service = env.get("OTEL_SERVICE_NAME", "").strip() or "weavegraph"
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    names = [n.strip().lower() for n in (env.get("OTEL_TRACES_EXPORTER") or "otlp").split(",") if n.strip()]
    for name in names:
        exporter: SpanExporter
        if name == "otlp":
            protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
            if protocol and protocol.strip() != "http/protobuf":
                warn(f"weavegraph: warning: OTLP protocol {protocol!r} is not available; using http/protobuf")
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            for logger_name in _EXPORTER_LOGGERS:
                logger = logging.getLogger(logger_name)
                if _QUIET not in logger.filters:
                    logger.addFilter(_QUIET)
            endpoint = _otlp_endpoint(env)
            timeout = None
            if not (env.get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") or env.get("OTEL_EXPORTER_OTLP_TIMEOUT")):
                timeout = DEFAULT_EXPORT_TIMEOUT_S
            exporter = GuardedExporter(OTLPSpanExporter(endpoint=endpoint, timeout=timeout), endpoint, warn)
        elif name == "console":
            exporter = ConsoleSpanExporter(out=sys.stderr)  # stdout carries the command's results
        elif name == "none":
            continue
        else:
            warn(f"weavegraph: warning: OTEL_TRACES_EXPORTER {name!r} is not supported (otlp, console, none)")
            continue
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


_env_provider: TracerProvider | None = None
_env_lock = threading.Lock()


def shared_env_provider(env: Mapping[str, str], warn: Warn) -> Any:
    """The process's tracer provider for `OTEL_*`-configured tracing: the global one when the application
    installed an SDK provider itself, else one built by `provider_from_env` once and shared by every bus."""
    global _env_provider
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    with _env_lock:
        if _env_provider is None:
            _env_provider = provider_from_env(env, warn)
        return _env_provider
