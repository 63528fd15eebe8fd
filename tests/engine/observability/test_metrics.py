"""Prometheus metrics: the series a real run produces (in-process, on a private registry), sink drops read
from the bus, and `weavegraph run --metrics-port` scraped over HTTP from a real subprocess."""

from __future__ import annotations

import asyncio
import socket
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from engine.errors import NodeRunError
from engine.events.bus import EventBus
from engine.events.event import Event
from engine.graph.builder import GraphBuilder
from engine.observability import instrument
from engine.observability.metrics import MetricsSink
from engine.partial import NodePartial
from engine.persistence.factory import open_checkpointer
from engine.runner import AppRunner
from engine.state import StateSnapshot, VersionedState
from tests.engine.observability.conftest import cli_env, free_port, run_cli, start_cli

HI = VersionedState.new_with_user_message


async def fine(snapshot: StateSnapshot, ctx: Any) -> NodePartial:
    await asyncio.sleep(0.01)
    return NodePartial(extra={"fine": True})


async def broken(snapshot: StateSnapshot, ctx: Any) -> NodePartial:
    raise RuntimeError("boom")


async def test_a_run_counts_nodes_failures_steps_saves_and_durations(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    app = (
        GraphBuilder()
        .add_node("fine", fine)
        .add_node("broken", broken)
        .add_edge("Start", "fine")
        .add_edge("fine", "broken")
        .add_edge("broken", "End")
        .compile()
    )
    checkpointer = await open_checkpointer(f"sqlite://{tmp_path / 'm.db'}")
    builder = AppRunner.builder().app(app).checkpointer_custom(checkpointer)
    found = instrument(builder, metrics=registry, environ={})
    assert found.metrics is not None and found.tracing is None
    try:
        async with await builder.build() as runner:
            await runner.create_session("m", HI("go"))
            with pytest.raises(NodeRunError):
                await runner.run_until_complete("m")
    finally:
        await checkpointer.aclose()

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("weavegraph_node_runs_total", node="fine") == 1
    assert value("weavegraph_node_runs_total", node="broken") == 1
    assert value("weavegraph_node_failures_total", node="broken") == 1
    assert value("weavegraph_node_failures_total", node="fine") is None
    assert value("weavegraph_steps_total") == 1  # step 2 failed before its end
    assert value("weavegraph_runs_total", status="error") == 1
    assert value("weavegraph_runs_active") == 0
    # Saves: step 0 (new session), step 1, and the failure at step 2.
    assert value("weavegraph_checkpoint_saves_total", backend="sqlite") == 3
    assert value("weavegraph_checkpoint_save_duration_seconds_count", backend="sqlite") == 3
    assert value("weavegraph_node_duration_seconds_count", node="fine") == 1
    fine_sum = value("weavegraph_node_duration_seconds_sum", node="fine")
    assert fine_sum is not None and 0.009 <= fine_sum < 1.0
    assert (value("weavegraph_events_total", type="lifecycle") or 0) >= 10
    assert value("weavegraph_sink_dropped_events_total", sink="prometheus") == 0


async def test_closed_sinks_keep_their_counts_and_each_series_is_exposed_once() -> None:
    """Node runs, steps and the lifecycle events the run observer's hooks stand for are counted per sink and
    added up at scrape time; a closed sink's counts stay (a counter never goes down)."""
    registry = CollectorRegistry()
    app = GraphBuilder().add_node("a", fine).add_node("b", fine).add_edge("Start", "a")
    app = app.add_edge("a", "b").add_edge("b", "End").compile()

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    lifecycle: list[float | None] = []
    for _ in range(2):
        builder = AppRunner.builder().app(app)
        instrument(builder, metrics=registry, environ={})
        async with await builder.build() as runner:
            await runner.create_session("s", HI("go"))
            await runner.run_until_complete("s")
            await runner.bus.flush(timeout=5)
            assert value("weavegraph_steps_total") == 2 * (len(lifecycle) + 1)  # the open sink counts
        lifecycle.append(value("weavegraph_events_total", type="lifecycle"))
    assert value("weavegraph_steps_total") == 4  # the closed sinks' steps
    assert value("weavegraph_node_runs_total", node="a") == 2
    assert value("weavegraph_node_duration_seconds_count", node="b") == 2
    first, both = lifecycle
    assert first is not None and first >= 6  # run start/end, two node starts and finishes, two step ends
    assert both == 2 * first
    text = generate_latest(registry).decode("utf-8")
    helped = [line.split()[2] for line in text.splitlines() if line.startswith("# HELP ")]
    assert len(helped) == len(set(helped)), sorted(helped)  # no series family is exposed twice
    assert {f.name for f in text_string_to_metric_families(text)} >= {"weavegraph_steps", "weavegraph_events"}


async def test_sink_drops_are_counted_and_survive_the_bus() -> None:
    registry = CollectorRegistry()

    class Slow:
        name = "slow"

        async def handle(self, event: Event) -> None:
            await asyncio.sleep(0.01)

    bus = EventBus(buffer_capacity=2, sinks=[Slow()])
    bus.add_sink(MetricsSink(registry, bus=bus))
    for i in range(20):
        bus.publish(Event.create("node", "progress", f"event {i}"))
    await bus.flush(timeout=5)
    dropped = registry.get_sample_value("weavegraph_sink_dropped_events_total", {"sink": "slow"})
    assert dropped is not None and dropped >= 15
    await bus.aclose()
    del bus
    after = registry.get_sample_value("weavegraph_sink_dropped_events_total", {"sink": "slow"})
    assert after is not None and after >= dropped  # a counter never goes down


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode("utf-8")
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = sample.name + "".join(f",{k}={v}" for k, v in sorted(sample.labels.items()))
            values[key] = sample.value
    return values


@pytest.mark.slow
def test_weavegraph_run_serves_metrics_while_it_runs(tmp_path: Path, doc: str) -> None:
    port = free_port()
    db = f"sqlite://{tmp_path / 'run.db'}"
    env = cli_env(WEAVEGRAPH_METRICS_ADDR="127.0.0.1")
    proc = start_cli(["run", doc, "--db", db, "--session", "m1", "--metrics-port", str(port)], tmp_path, env)
    try:
        seen: dict[str, float] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                seen = scrape(port)
            except OSError:
                time.sleep(0.05)  # not listening yet
                continue
            if seen.get("weavegraph_steps_total", 0) >= 3:
                break
            time.sleep(0.05)
        assert seen.get("weavegraph_steps_total", 0) >= 3, seen
        assert seen["weavegraph_node_runs_total,node=tick"] >= 1
        assert seen["weavegraph_node_runs_total,node=wait"] >= 1
        assert seen["weavegraph_checkpoint_saves_total,backend=sqlite"] >= 3
        assert seen["weavegraph_checkpoint_save_duration_seconds_count,backend=sqlite"] >= 3
        assert seen["weavegraph_node_duration_seconds_sum,node=wait"] >= 0.25
        assert seen["weavegraph_runs_active"] == 1
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert err == ""
    assert "session m1 completed at step 10" in out


def test_a_metrics_port_in_use_costs_one_warning_line(tmp_path: Path) -> None:
    from tests.engine.observability.conftest import slow_doc

    doc = slow_doc(tmp_path / "quick.wgraph.json", wait_ms=1, loops=2)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = cli_env(WEAVEGRAPH_METRICS_ADDR="127.0.0.1")
        done = run_cli(["run", doc, "--metrics-port", str(port), "--session", "busy"], tmp_path, env)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(
        f"weavegraph: warning: metrics are not served: cannot listen on 127.0.0.1:{port}"
    )
    assert "session busy completed at step 4" in done.stdout


def test_bad_metrics_port_and_grace_are_usage_errors(tmp_path: Path) -> None:
    env = cli_env()
    for args, problem in (
        (["--metrics-port", "99999"], "a TCP port is 0-65535"),
        (["--metrics-port", "x"], "expected a TCP port number"),
        (["--grace-s", "-1"], "expected zero or more seconds"),
    ):
        done = run_cli(["run", "market_ticks", *args], tmp_path, env)
        assert done.returncode == 2
        assert problem in done.stderr
