"""The Queue panel (`queuePanel`) against the suite's real PostgreSQL server and a real `weavegraph worker`
process: connect, workers with heartbeat age, submit the open document, jobs and the status filter, the jobs/s
plot, cancel, and a one-line error for a database without queue tables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from studio.bridge import Bridge
from studio.controllers.queue import QueueController
from studio.panels.queue import QueuePanel

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]


def cell(table: Any, row: int, col: int) -> str:
    item = table.item(row, col)
    return "" if item is None else str(item.text())


def column(table: Any, col: int) -> list[str]:
    return [cell(table, r, col) for r in range(table.rowCount())]


def test_queue_panel_with_a_real_worker(qtbot: Any, bridge: Bridge, postgres_url: str) -> None:
    controller = QueueController(bridge, interval_ms=200)
    name = ["chain"]
    panel = QueuePanel(controller, lambda: name[0], lambda: {"messages": [], "extra": {"sleep": 0.01}})
    qtbot.addWidget(panel)
    assert panel.objectName() == "queuePanel"

    panel.url.setText(postgres_url)  # not migrated yet: one line naming the fix
    panel.connect_button.click()
    qtbot.waitUntil(lambda: "weavegraph migrate" in panel.notice.text(), timeout=10000)
    assert "pw-Secr3t" not in panel.notice.text()

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    migrate = [sys.executable, "-m", "engine.cli", "migrate", "--db", postgres_url]
    assert subprocess.run(migrate, cwd=ROOT, env=env, capture_output=True, check=False).returncode == 0
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engine.cli",
            "worker",
            "tests.engine.queue.graphs:chain",
            "--db",
            postgres_url,
            "--heartbeat-s",
            "0.3",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        panel.connect_button.click()
        qtbot.waitUntil(lambda: panel.workers.rowCount() == 1, timeout=20000)
        assert cell(panel.workers, 0, 1) == str(worker.pid) and cell(panel.workers, 0, 2) == "chain"
        assert cell(panel.workers, 0, 4).endswith(" s")

        for _ in range(3):
            panel.submit_button.click()
            qtbot.waitUntil(lambda: "Submitted job" in panel.notice.text() or panel.jobs.rowCount() > 0)
        qtbot.waitUntil(lambda: column(panel.jobs, 3).count("completed") == 3, timeout=20000)
        assert set(column(panel.jobs, 5)) == {"3"}
        qtbot.waitUntil(lambda: max(panel.rates) > 0, timeout=5000)  # the jobs/s plot saw them finish

        name[0] = "nobody-serves-this"  # waits in the queue: cancel it
        panel.input.setText('{"extra": {}}')
        panel.submit_button.click()
        qtbot.waitUntil(lambda: "queued" in column(panel.jobs, 3), timeout=10000)
        panel.jobs.selectRow(column(panel.jobs, 3).index("queued"))
        panel.cancel_button.click()
        qtbot.waitUntil(lambda: "cancelled" in column(panel.jobs, 3), timeout=10000)

        panel.status_filter.setCurrentText("cancelled")
        qtbot.waitUntil(lambda: column(panel.jobs, 3) == ["cancelled"], timeout=10000)
        assert column(panel.jobs, 1) == ["nobody-serves-this"]

        panel.input.setText("[1, 2]")
        panel.submit_button.click()
        assert panel.notice.text() == "Error: the input must be a JSON object"
    finally:
        worker.kill()
        worker.wait(10)
        controller.timer.stop()
        client = controller.client
        if client is not None:
            bridge.start(controller.aclose(), name="close")
            qtbot.waitUntil(lambda: controller.client is None)
