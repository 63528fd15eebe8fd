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
from PySide6.QtWidgets import QLabel, QPushButton

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


def start_worker(url: str, *graphs: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    migrate = [sys.executable, "-m", "engine.cli", "migrate", "--db", url]
    assert subprocess.run(migrate, cwd=ROOT, env=env, capture_output=True, check=False).returncode == 0
    cmd = [sys.executable, "-m", "engine.cli", "worker", *graphs, "--db", url, "--heartbeat-s", "0.3"]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stored_count(run_async: Any, url: str, session_id: str) -> int:
    from engine import open_checkpointer

    async def count() -> int:
        cp: Any = await open_checkpointer(url)
        try:
            return len(await cp.events(session_id))
        finally:
            await cp.aclose()

    return int(run_async(count(), timeout=15))


def test_the_live_events_of_a_selected_job(
    qtbot: Any, bridge: Bridge, postgres_url: str, run_async: Any
) -> None:
    controller = QueueController(bridge, interval_ms=200)
    panel = QueuePanel(controller, lambda: "chain", lambda: {"extra": {"sleep": 0.5}})
    qtbot.addWidget(panel)
    worker = start_worker(postgres_url, "tests.engine.queue.graphs:chain")
    try:
        panel.url.setText(postgres_url)
        panel.connect_button.click()
        qtbot.waitUntil(lambda: panel.workers.rowCount() == 1, timeout=20000)
        panel.submit_button.click()
        qtbot.waitUntil(lambda: panel.jobs.rowCount() == 1, timeout=10000)
        panel.jobs.selectRow(0)
        # Live: node rows arrive while the job still runs (three nodes of 0.5 s each).
        qtbot.waitUntil(lambda: "node.finish" in column(panel.events, 2), timeout=20000)
        assert cell(panel.jobs, 0, 3) == "running"
        assert panel.events_title.text() == f"Events of job {panel.shown_job}: live"
        qtbot.waitUntil(lambda: "job completed" in panel.events_title.text(), timeout=20000)
        scopes = column(panel.events, 2)
        assert scopes.count("node.start") == 3 and scopes.count("step.end") == 3
        assert column(panel.events, 3).count("b") >= 2  # node b's start and finish, named
        session = cell(panel.jobs, 0, 2)
        assert len(scopes) == stored_count(run_async, postgres_url, session)  # each event once
        seqs = [int(s) for s in column(panel.events, 0)]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    finally:
        worker.kill()
        worker.wait(10)
        controller.timer.stop()
        bridge.start(controller.aclose(), name="close")
        qtbot.waitUntil(lambda: controller.client is None)


def test_the_run_console_sends_a_run_to_the_queue(
    main_window: Any, qtbot: Any, postgres_url: str, run_async: Any
) -> None:
    w = main_window
    send = w.console.findChild(QPushButton, "sendToQueue")
    notice = w.console.findChild(QLabel, "sendToQueueNotice")
    assert send is not None and not send.isEnabled()  # in-memory: no queue
    worker = start_worker(postgres_url, "market_ticks")
    try:
        w.set_database(postgres_url)
        assert send.isEnabled() and w.console.kind.currentData() == "postgres"
        assert "pw-Secr3t" not in w.console.location.text()
        w.console.session.setText("sent-1")
        send.click()
        qtbot.waitUntil(lambda: notice.text().startswith("queued as job"), timeout=20000)
        assert notice.text() == "queued as job 1 (session sent-1)"
        panel = w.queue
        qtbot.waitUntil(lambda: "job completed" in panel.events_title.text(), timeout=30000)
        assert panel.shown_job == 1 and "node.start" in column(panel.events, 2)
        assert panel.events.rowCount() == stored_count(run_async, postgres_url, "sent-1")
        assert "pw-Secr3t" not in panel.notice.text()
        # A bad initial state is reported inline in the console, and nothing is queued.
        w.console.input_editor.set_value([1])
        send.click()
        assert w.console.error_label.text().startswith("Initial state: "), w.console.error_label.text()
        assert "object" in w.console.error_label.text()
        assert len(run_async(w.queue_controller.client.jobs())) == 1
        run_async(w.shutdown(), timeout=15)  # the window's shutdown closes the queue's connection too
        assert w.queue_controller.client is None and not w.queue_controller.timer.isActive()
    finally:
        worker.kill()
        worker.wait(10)
