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


def test_plots_start_at_zero_keep_the_legend_off_the_newest_data_and_detach_sinks(
    qtbot: Any, bridge: Bridge, run_async: Any, tmp_path: Path
) -> None:
    bus = EventBus(buffer_capacity=64)
    panel = SinkHealthPanel(bridge, bus, interval_ms=50)
    qtbot.addWidget(panel)
    panel.resize(1000, 500)
    panel.show()
    qtbot.waitExposed(panel)
    panel.refresh()
    # no sinks: a sentence says so instead of an empty 0.1-0.9 placeholder axis
    assert panel.problem_stack.currentWidget() is panel.no_sinks
    assert panel.attach_jsonl(str(tmp_path / "events.jsonl"))
    panel.refresh()
    assert panel.problem_stack.currentWidget() is panel.problem_plot
    for plot in (panel.rate_plot, panel.problem_plot):
        (x0, x1), (y0, _y1) = plot.getViewBox().viewRange()
        assert y0 >= 0, plot.objectName()  # rates are never negative
        assert x1 == 0 and x0 <= -59  # the last minute at least, newest at the right edge
        legend = plot.getPlotItem().legend
        left_in_view = legend.mapRectToItem(plot.getPlotItem(), legend.boundingRect()).left()
        assert left_in_view < plot.getPlotItem().boundingRect().width() / 3  # legend at the left (oldest)
    panel.table.selectRow(0)
    assert panel.detach_button.isEnabled()
    panel.detach_button.click()
    qtbot.waitUntil(lambda: panel.model.rowCount() == 0, timeout=5000)
    assert bus.sinks == () and panel.problem_stack.currentWidget() is panel.no_sinks
    run_async(bus.aclose())
