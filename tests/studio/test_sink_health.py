"""Sink health: ring buffers, the table over `bus.sink_health()`, attaching sinks from the UI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from engine.events.bus import EventBus
from engine.events.event import Event
from engine.events.sinks import FunctionSink
from studio.bridge import Bridge
from studio.panels.sink_health import RateHistory, SinkHealthPanel


def test_rate_history_is_a_ring_buffer() -> None:
    h = RateHistory(seconds=4)
    for i in range(6):
        h.push({"node": float(i)})
    x, y = h.series("node")
    assert list(y) == [2.0, 3.0, 4.0, 5.0]
    assert list(x) == [-3.0, -2.0, -1.0, 0.0]
    h.push({"llm": 7.0})  # a new series starts from zeros
    assert list(h.series("llm")[1]) == [0.0, 0.0, 0.0, 7.0]
    assert list(h.series("node")[1])[-1] == 0.0
    assert isinstance(h.series("node")[1], np.ndarray)


def test_table_counts_errors_and_attaches_a_jsonl_file(
    qtbot: Any, bridge: Bridge, run_async: Any, tmp_path: Path
) -> None:
    bus = EventBus(buffer_capacity=64)

    def broken(_e: Event) -> None:
        raise ValueError("cannot write")

    panel = SinkHealthPanel(bridge, bus, interval_ms=50)
    qtbot.addWidget(panel)
    panel.listen()
    assert panel.attach(FunctionSink(broken, name="broken"))
    out = tmp_path / "events.jsonl"
    assert panel.attach_jsonl(str(out))

    async def publish() -> None:
        for i in range(20):
            bus.publish(Event.create("node", "work", f"e{i}", node_id="A"))
        await bus.flush(2.0)

    run_async(publish())
    qtbot.waitUntil(
        lambda: panel.model.rowCount() == 2 and panel.model.row(0).error_count == 20, timeout=3000
    )
    assert panel.model.data(panel.model.index(0, 3)).endswith("cannot write")
    assert panel.model.row(1).handled >= 20  # the file sink also saw the failing sink's diagnostics
    assert [json.loads(line)["message"] for line in out.read_text().splitlines()][:3] == ["e0", "e1", "e2"]
    qtbot.waitUntil(
        lambda: "node" in panel.rates.names() and panel.rates.series("node")[1].sum() > 0, timeout=3000
    )
    assert "broken" in panel.problems.names()
    assert not panel.attach_jsonl(str(tmp_path / "missing-dir" / "x.jsonl"))
    assert panel.notice.isVisibleTo(panel)
    run_async(bus.aclose())
