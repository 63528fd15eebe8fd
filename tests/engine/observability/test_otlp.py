"""Traces leave a real `weavegraph run` over OTLP/HTTP (configured by `OTEL_*` only) and reach a small
collector on loopback that decodes the protobuf; an unreachable collector costs one warning line. Without the
extras, nothing is imported and a request for them is one warning line."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.engine.observability.conftest import cli_env, free_port, run_cli, slow_doc

REPO = Path(__file__).resolve().parents[3]


class Collector(ThreadingHTTPServer):
    """Accepts POST /v1/traces and keeps the decoded export requests."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[ExportTraceServiceRequest] = []
        self.paths: list[str] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.server.paths.append(self.path)
        if self.path != "/v1/traces":
            self.send_response(404)
            self.end_headers()
            return
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.server.requests.append(request)
        reply = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.mark.slow
def test_a_cli_run_exports_its_spans_over_otlp_http(tmp_path: Path, collector: Collector) -> None:
    doc = slow_doc(tmp_path / "slow.wgraph.json", wait_ms=20, loops=2)
    env = cli_env(OTEL_EXPORTER_OTLP_ENDPOINT=collector.endpoint, OTEL_SERVICE_NAME="wg-test")
    done = run_cli(["run", doc, "--db", f"sqlite://{tmp_path / 't.db'}", "--session", "otlp"], tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert collector.paths and set(collector.paths) == {"/v1/traces"}
    spans = []
    services = set()
    for request in collector.requests:
        for resource_spans in request.resource_spans:
            for attr in resource_spans.resource.attributes:
                if attr.key == "service.name":
                    services.add(attr.value.string_value)
            for scope_spans in resource_spans.scope_spans:
                assert scope_spans.scope.name == "weavegraph"
                spans.extend(scope_spans.spans)
    assert services == {"wg-test"}
    names = sorted(s.name for s in spans)
    assert names.count("weavegraph.run Slow loop") == 1
    assert names.count("weavegraph.step") == 4
    assert names.count("weavegraph.node tick") == 2
    assert names.count("weavegraph.node wait") == 2
    assert names.count("weavegraph.checkpoint.save") == 5  # steps 0-4
    (run,) = [s for s in spans if s.name.startswith("weavegraph.run")]
    attrs = {a.key: a.value for a in run.attributes}
    assert attrs["weavegraph.session.id"].string_value == "otlp"
    assert attrs["weavegraph.graph.hash"].string_value
    assert {s.trace_id for s in spans} == {run.trace_id}
    steps = {s.span_id for s in spans if s.name == "weavegraph.step"}
    assert all(s.parent_span_id in steps for s in spans if s.name.startswith("weavegraph.node"))


def test_an_unreachable_collector_costs_one_warning_line(tmp_path: Path) -> None:
    doc = slow_doc(tmp_path / "slow.wgraph.json", wait_ms=1, loops=2)
    port = free_port()  # nothing listens there
    env = cli_env(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{port}")
    done = run_cli(["run", doc, "--session", "dark"], tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert "session dark completed at step 4" in done.stdout
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(
        f"weavegraph: warning: cannot export traces to http://127.0.0.1:{port}/v1/traces ("
    )
    assert lines[0].endswith("the run goes on without them")


BLOCK_EXTRAS = r"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("opentelemetry", "prometheus_client"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Block())
"""


def test_without_the_extras_nothing_is_imported_and_requests_warn_once(tmp_path: Path) -> None:
    doc = slow_doc(tmp_path / "slow.wgraph.json", wait_ms=1, loops=2)
    script = (
        BLOCK_EXTRAS
        + f"""
import asyncio
from engine.cli import main
code = main(["run", {doc!r}, "--session", "plain"])
assert code == 0, code
assert not any(m.split(".")[0] in ("opentelemetry", "prometheus_client") for m in sys.modules), "imported"
from engine.events.bus import EventBus
from engine.observability import instrument
assert not instrument(EventBus(), environ={{}}).active
lines = []
found = instrument(EventBus(), tracing=True, metrics=True, environ={{}}, warn=lines.append)
assert not found.active and len(lines) == 2, lines
from engine.runner import AppRunner
builder = AppRunner.builder()
assert not instrument(builder, tracing=True, metrics=True, environ={{}}, warn=lambda text: None).active
assert builder._lifecycle is False and builder._bus is None  # left as it was: no events to pay for
print("\\n".join(lines))
code = main(["run", {doc!r}, "--session", "asked", "--metrics-port", "0"])
assert code == 0, code
print("ok")
"""
    )
    env = cli_env(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9")
    env_plain = cli_env()
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env_plain, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert out[-1] == "ok"
    assert any("tracing is off: OpenTelemetry is not installed" in line for line in out)
    assert any("metrics are off: prometheus-client is not installed" in line for line in out)
    assert done.stderr.splitlines() == [
        "weavegraph: warning: --metrics-port ignored: prometheus-client is not installed "
        "(prometheus_client); install the 'metrics' extra"
    ]
    # OTEL_* set but no OpenTelemetry: one warning line, the run goes on.
    traced = subprocess.run(
        [
            sys.executable,
            "-c",
            BLOCK_EXTRAS + f"from engine.cli import main\nsys.exit(main(['run', {doc!r}]))",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert traced.returncode == 0, traced.stderr
    assert traced.stderr.splitlines() == [
        "weavegraph: warning: tracing is off: OpenTelemetry is not installed (opentelemetry); "
        "install the 'otel' extra"
    ]


def test_console_spans_go_to_stderr_so_json_output_stays_clean(tmp_path: Path) -> None:
    doc = slow_doc(tmp_path / "slow.wgraph.json", wait_ms=1, loops=1)
    done = run_cli(["run", doc, "--json"], tmp_path, cli_env(OTEL_TRACES_EXPORTER="console"))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["step"] == 2
    assert '"name": "weavegraph.run Slow loop"' in done.stderr
