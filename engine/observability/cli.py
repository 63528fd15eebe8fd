"""What `weavegraph run` and `step` need from observability, in one object the command wires in a few lines:
the `--metrics-port` and `--grace-s` options, the `/metrics` endpoint, tracing and metrics sinks on the
command's event bus, and graceful shutdown of the run.

    with RunControl(args, warn, graph_name=doc.name) as control:          # serves --metrics-port
        bus = EventBus(...)
        lifecycle = control.attach(bus, app)                              # sinks observe the runner
        ...
        final = await control.run(coro, runner=runner, session_id=sid)    # Stopped on SIGTERM/SIGINT
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

from engine.observability.config import Instrumentation, instrument
from engine.observability.shutdown import GracefulShutdown
from engine.observability.warn import Warn

__all__ = ["DEFAULT_GRACE_S", "RunControl", "add_run_options"]

T = TypeVar("T")

DEFAULT_GRACE_S = 25.0
"""Seconds a stopping run gives its running step (below the usual 30 s before a container is killed)."""
METRICS_ADDR_VAR = "WEAVEGRAPH_METRICS_ADDR"
"""Environment variable naming the address `--metrics-port` listens on (default 0.0.0.0)."""


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds (a number), got {text!r}") from None
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError(f"expected zero or more seconds, got {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a TCP port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a TCP port is 0-65535, got {value}")
    return value


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """`--metrics-port N` and `--grace-s S` (tracing is configured by the `OTEL_*` environment)."""
    parser.add_argument(
        "--metrics-port",
        type=_port,
        metavar="N",
        help=f"serve Prometheus metrics on port N while running (address: ${METRICS_ADDR_VAR}, "
        "default 0.0.0.0)",
    )
    parser.add_argument(
        "--grace-s",
        type=_non_negative,
        default=DEFAULT_GRACE_S,
        metavar="S",
        help="on SIGTERM/SIGINT, let the running step finish for up to S seconds, save and stop "
        f"(exit 143/130; default {DEFAULT_GRACE_S:g})",
    )


class RunControl:
    """Metrics endpoint, instrumentation and graceful shutdown of one command (see the module docstring)."""

    def __init__(
        self,
        args: argparse.Namespace,
        warn: Warn,
        *,
        graph_name: str | None = None,
        environ: dict[str, str] | None = None,
    ) -> None:
        self.metrics_port: int | None = getattr(args, "metrics_port", None)
        self.shutdown = GracefulShutdown(getattr(args, "grace_s", DEFAULT_GRACE_S))
        self.graph_name = graph_name
        self._warn = warn
        self._env = dict(os.environ) if environ is None else environ
        self._server: Any = None
        self.instrumentation = Instrumentation()
        """What the last `attach` attached; a worker calls `.continue_trace(session_id, job)` on it."""

    def __enter__(self) -> RunControl:
        if self.metrics_port is not None:
            try:
                from engine.observability.metrics import serve_metrics
            except ImportError as exc:
                self._warn(
                    f"weavegraph: warning: --metrics-port ignored: prometheus-client is not installed "
                    f"({exc.name}); install the 'metrics' extra"
                )
            else:
                addr = self._env.get(METRICS_ADDR_VAR, "").strip() or "0.0.0.0"
                self._server = serve_metrics(self.metrics_port, addr=addr, warn=self._warn)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    @property
    def metrics_served(self) -> bool:
        return self._server is not None

    def attach(self, bus: Any, app: Any) -> bool:
        """Attach tracing (when `OTEL_*` asks for it) and metrics (when served) to `bus`; True when the
        runner must publish lifecycle events for them: never now, they are run observers the runner calls
        directly (kept for callers that pass it on as `lifecycle_events`)."""
        self.instrumentation = instrument(
            bus,
            app=app,
            graph_name=self.graph_name,
            metrics=self.metrics_served,
            environ=self._env,
            warn=self._warn,
        )
        return False

    async def run(
        self, coro: Coroutine[Any, Any, T], *, runner: Any = None, session_id: str | None = None
    ) -> T:
        """`coro`'s result; `Stopped` (exit code and line) when a signal stopped it."""
        return await self.shutdown.run(coro, runner=runner, session_id=session_id)
