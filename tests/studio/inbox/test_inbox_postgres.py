"""The inbox on the suite's real PostgreSQL server: a session paused there by a real run is listed (the
password never shown), answered from the inbox, and run on in the run console on the same database."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtWidgets import QCheckBox

from studio.controllers.run import RunState
from studio.main_window import MainWindow
from studio.services import storage

from .conftest import FINISHED, extra_of, pause_sessions, stored

pytestmark = pytest.mark.postgres


def test_inbox_on_postgres(window: MainWindow, qtbot: Any, postgres_url: str, run_async: Any) -> None:
    run_async(pause_sessions(window.build_app(), postgres_url, ["pg-1"]), timeout=30)
    window.set_database(postgres_url)
    panel = window.inbox
    qtbot.waitUntil(lambda: panel.table.rowCount() == 1, timeout=15000)
    password = storage.password_of(postgres_url)
    assert password and password not in panel.database.text()
    assert panel.table.item(0, 0).text() == "pg-1" and panel.table.item(0, 1).text() == "Approval"
    panel.select_ids([panel.table.item(0, 0).data(256)])
    assert panel.form is not None
    box = panel.form.field()
    assert isinstance(box, QCheckBox)
    box.setChecked(True)
    assert panel.answer()
    qtbot.waitUntil(lambda: window.runs.state in FINISHED, timeout=30000)
    assert window.runs.state == RunState.COMPLETED
    assert run_async(extra_of(postgres_url, "pg-1"))["approved"] is True
    assert run_async(stored(postgres_url, pending=True)) == []
    qtbot.waitUntil(lambda: panel.table.rowCount() == 0, timeout=10000)


def test_a_session_from_a_queue_job_is_resumed_through_the_queue_when_it_can(
    window: MainWindow, qtbot: Any, postgres_url: str, run_async: Any
) -> None:
    """The session has a queue job: its answer goes through `QueueClient.submit(resume=...)`; a queue that
    cannot resume yet leaves it to the run console, and the panel says so."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from engine import QueueClient

    root = Path(__file__).resolve().parents[3]
    migrate = [sys.executable, "-m", "engine.cli", "migrate", "--db", postgres_url]
    env = {**os.environ, "PYTHONPATH": str(root)}
    assert subprocess.run(migrate, cwd=root, env=env, capture_output=True, check=False).returncode == 0
    run_async(pause_sessions(window.build_app(), postgres_url, ["job-s"]), timeout=30)

    async def submit() -> int:
        client = await QueueClient.connect(postgres_url)
        try:
            job = await client.submit("Approval", session_id="job-s")  # no worker: it stays queued
            return int(job.id)
        finally:
            await client.aclose()

    first_job = run_async(submit(), timeout=30)
    window.set_database(postgres_url)
    panel = window.inbox
    qtbot.waitUntil(lambda: panel.table.rowCount() == 1, timeout=15000)
    panel.select_ids([panel.table.item(0, 0).data(256)])
    assert panel.form is not None
    assert panel.answer()
    qtbot.waitUntil(lambda: "queue job" in panel.status.text(), timeout=15000)
    # resumed as a new queue job; the run console stays out of it
    assert "session 'job-s' goes on as queue job" in panel.status.text()
    assert window.runs.state == RunState.IDLE and not window.inbox_controller.orders

    async def jobs_of_session() -> list[int]:
        client = await QueueClient.connect(postgres_url)
        try:
            return sorted(int(j.id) for j in await client.jobs(limit=50) if j.session_id == "job-s")
        finally:
            await client.aclose()

    jobs = run_async(jobs_of_session(), timeout=30)
    assert len(jobs) == 2 and jobs[0] == first_job  # the answer went on as a second job of that session
    assert f"goes on as queue job {jobs[1]}" in panel.status.text()
