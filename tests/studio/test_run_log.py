"""The run log model: appends in batches from its timer (never per event), filters, caps, exports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex

from engine.events.event import Event
from studio.models.run_log import COLUMNS, RunLogModel


def ev(i: int, type_: str = "node", scope: str = "work", node: str | None = "A") -> Event:
    from dataclasses import replace

    return replace(Event.create(type_, scope, f"message {i}", node_id=node, step=i % 7), seq=i)


def test_enqueue_is_batched_by_the_timer(qtbot: Any) -> None:
    model = RunLogModel(interval_ms=20, max_per_flush=1000)
    inserts: list[int] = []
    model.rowsInserted.connect(lambda _p, first, last: inserts.append(last - first + 1))
    model.enqueue(ev(i) for i in range(2500))
    assert model.rowCount() == 0  # nothing until the timer fires
    qtbot.waitUntil(lambda: model.rowCount() == 2500, timeout=2000)
    assert inserts == [1000, 1000, 500]  # three insertions, not 2500
    assert model.data(model.index(0, COLUMNS.index("message"))) == "message 0"
    assert model.data(model.index(2499, COLUMNS.index("seq"))) == 2499
    model.deleteLater()


def test_filters_by_type_node_and_text(qtbot: Any) -> None:
    model = RunLogModel(interval_ms=10_000)
    model.enqueue(
        [ev(0, "lifecycle", "node.start", "A"), ev(1, "node", "progress", "B"), ev(2, "llm", "chunk", "A")]
    )
    model.flush_all()
    model.set_filter(types=["lifecycle", "llm"])
    assert [model.event_at(r).seq for r in range(model.rowCount())] == [0, 2]
    model.set_filter(node="b")
    assert [model.event_at(r).seq for r in range(model.rowCount())] == [1]
    model.set_filter(text="CHUNK")
    assert [model.event_at(r).seq for r in range(model.rowCount())] == [2]
    model.enqueue([ev(3, "llm", "chunk", "C")])  # new rows are filtered on arrival
    model.flush_all()
    assert [model.event_at(r).seq for r in range(model.rowCount())] == [2, 3]
    model.set_filter()
    assert model.rowCount() == 4 == model.total
    model.deleteLater()


def test_cap_drops_the_oldest_in_chunks(qtbot: Any) -> None:
    model = RunLogModel(interval_ms=10_000, max_per_flush=500, max_rows=1000)
    model.enqueue(ev(i) for i in range(1600))
    model.flush_all()
    assert model.rowCount() <= 1000
    assert model.event_at(model.rowCount() - 1).seq == 1599
    assert model.event_at(0).seq == 1600 - model.rowCount()
    assert model.total == 1600
    assert model.rowCount(model.index(0, 0)) == 0 and model.columnCount(QModelIndex()) == len(COLUMNS)
    model.deleteLater()


def test_export_json_lines_round_trips(qtbot: Any, tmp_path: Path) -> None:
    model = RunLogModel(interval_ms=10_000)
    model.enqueue(ev(i) for i in range(10))
    model.flush_all()
    out = tmp_path / "log.jsonl"
    assert model.export_jsonl(out) == 10
    back = [Event.from_json(line) for line in out.read_text().splitlines()]
    assert [e.seq for e in back] == list(range(10))
    assert json.loads(out.read_text().splitlines()[3])["message"] == "message 3"
    model.deleteLater()
