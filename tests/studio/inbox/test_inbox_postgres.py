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
