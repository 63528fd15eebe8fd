"""Bridge: owned tasks, failure reporting, cancel-on-destroy, shutdown; event pump batching; the
PySide6 None-refcount guard."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest
from PySide6.QtCore import QObject
from PySide6.QtGui import QImage, QPainter

from studio.bridge import Bridge, EventPump, one_line


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None is immortal on 3.12+")
def test_qpainter_does_not_leak_none_refs(qapp: Any) -> None:
    img = QImage(64, 64, QImage.Format.Format_ARGB32)
    painter = QPainter(img)
    before = sys.getrefcount(None)
    for _ in range(1000):
        painter.drawLine(0, 0, 10, 10)
    after = sys.getrefcount(None)
    painter.end()
    assert after >= before - 50, f"None lost {before - after} references (PySide6 6.12 bug, research 4.4)"


def test_start_returns_result(bridge: Bridge, qtbot: Any) -> None:
    async def work() -> int:
        await asyncio.sleep(0.01)
        return 42

    task = bridge.start(work(), name="work")
    qtbot.waitUntil(task.done, timeout=2000)
    assert task.result() == 42
    assert bridge.running_tasks() == []


def test_failure_is_reported_as_one_line(bridge: Bridge, qtbot: Any) -> None:
    async def boom() -> None:
        await asyncio.sleep(0)
        raise ValueError("bad\nthing happened")

    with qtbot.waitSignal(bridge.task_failed, timeout=2000) as blocker:
        bridge.start(boom(), name="boomer")
    assert blocker.args == ["boomer", "bad thing happened"]


def test_cancellation_is_silent(bridge: Bridge, qtbot: Any) -> None:
    failures: list[tuple[str, str]] = []
    bridge.task_failed.connect(lambda n, m: failures.append((n, m)))
    task = bridge.start(asyncio.sleep(10), name="sleeper")
    qtbot.wait(10)
    task.cancel()
    qtbot.waitUntil(task.done, timeout=2000)
    assert task.cancelled()
    assert failures == []


def test_owner_destroyed_cancels_its_tasks(bridge: Bridge, qtbot: Any) -> None:
    owner = QObject()
    other = QObject()
    mine = bridge.start(asyncio.sleep(10), name="mine", owner=owner)
    theirs = bridge.start(asyncio.sleep(10), name="theirs", owner=other)
    assert bridge.owned_tasks(owner) == [mine]
    owner.deleteLater()
    qtbot.waitUntil(mine.done, timeout=2000)
    assert mine.cancelled()
    assert not theirs.done()
    bridge.cancel_owned(other)
    qtbot.waitUntil(theirs.done, timeout=2000)
    assert theirs.cancelled()
    other.deleteLater()


def test_shutdown_cancels_and_awaits_everything(bridge: Bridge, run_async: Any) -> None:
    cleaned: list[str] = []

    async def holder(name: str) -> None:
        try:
            await asyncio.sleep(10)
        finally:
            cleaned.append(name)

    tasks = [bridge.start(holder(f"t{i}"), name=f"t{i}") for i in range(3)]
    run_async(bridge.shutdown())
    assert all(t.cancelled() for t in tasks)
    assert sorted(cleaned) == ["t0", "t1", "t2"]
    assert bridge.running_tasks() == []


def test_one_line_folds_and_falls_back_to_class_name() -> None:
    assert one_line(RuntimeError("a\n  b")) == "a b"
    assert one_line(KeyError()) == "KeyError"


def test_event_pump_batches_and_finishes(bridge: Bridge, qtbot: Any) -> None:
    async def stream() -> Any:
        for i in range(2500):
            yield i
            if i % 500 == 0:
                await asyncio.sleep(0)

    pump = EventPump(bridge, interval_ms=20, max_batch=1000)
    batches: list[list[int]] = []
    pump.batch_ready.connect(batches.append)
    with qtbot.waitSignal(pump.finished, timeout=3000) as blocker:
        pump.pump(stream())
    assert blocker.args == [""]
    assert [x for b in batches for x in b] == list(range(2500))
    assert max(len(b) for b in batches) <= 1000
    assert len(batches) < 100  # batched, not one signal per item
    pump.deleteLater()
