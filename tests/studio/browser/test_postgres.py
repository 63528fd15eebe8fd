"""The browser on a real PostgreSQL server: password handling, live tail, wrong password, server stopped."""

from __future__ import annotations

import logging
import urllib.parse
from typing import Any

import pytest
from PySide6.QtCore import QSettings

from studio.panels.browser_widgets import RECENT_KEY
from studio.panels.checkpoint_browser import CheckpointBrowserPanel
from studio.services.storage import strip_password
from tests.studio.browser.conftest import make_checkpoint

pytestmark = pytest.mark.postgres


async def fill_postgres(url: str, sessions: dict[str, int]) -> None:
    from engine.persistence.postgres import PostgresCheckpointer

    cp = await PostgresCheckpointer.connect(url)
    try:
        for sid, last in sessions.items():
            for step in range(last + 1):
                await cp.save(make_checkpoint(sid, step))
    finally:
        await cp.aclose()


def _visible_texts(panel: CheckpointBrowserPanel) -> list[str]:
    from PySide6.QtWidgets import QLabel, QLineEdit

    out = [w.text() for w in panel.findChildren(QLabel)]
    out += [w.text() for w in panel.findChildren(QLineEdit) if w.echoMode() == QLineEdit.EchoMode.Normal]
    out += [a.text() for a in panel.recent_menu.actions()]
    return out


def _connect(qtbot: Any, panel: CheckpointBrowserPanel, url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    panel.url_edit.setText(strip_password(url))
    panel.password_edit.setText(urllib.parse.unquote(parts.password or ""))
    with qtbot.waitSignal(panel.sessions_loaded, timeout=10000):
        panel.connect_button.click()


def test_postgres_browse_never_shows_or_stores_the_password(
    qtbot: Any, panel: CheckpointBrowserPanel, run_async: Any, postgres_url: str, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    password = urllib.parse.unquote(urllib.parse.urlsplit(postgres_url).password or "")
    assert password
    run_async(fill_postgres(postgres_url, {"pg-a": 3, "pg-b": 1}))
    opened: list[str] = []
    panel.database_opened.connect(opened.append)
    _connect(qtbot, panel, postgres_url)
    assert panel.sessions.total_count == 2
    assert opened and password not in opened[0] and "***" in opened[0]
    assert panel.current_url() == strip_password(postgres_url)
    assert all(password not in t for t in _visible_texts(panel))
    recent = QSettings().value(RECENT_KEY)
    assert recent == [strip_password(postgres_url)] and password not in str(recent)
    with qtbot.waitSignal(panel.steps_loaded, timeout=5000):
        panel.select_session("pg-a")
    assert [panel.steps.checkpoint_at(r).step for r in range(panel.steps.rowCount())] == [3, 2, 1, 0]
    # live tail through LISTEN/NOTIFY
    with qtbot.waitSignal(panel.live_step_seen, timeout=10000) as sig:
        run_async(fill_postgres(postgres_url, {"pg-new": 0}))
    assert sig.args == ["pg-new", 0]
    qtbot.waitUntil(lambda: panel.sessions.row_of("pg-new") >= 0, timeout=5000)
    assert password not in caplog.text


def test_wrong_password_is_one_clear_line(
    qtbot: Any, panel: CheckpointBrowserPanel, postgres_url: str
) -> None:
    panel.url_edit.setText(strip_password(postgres_url))
    panel.password_edit.setText("not-the-password-123")
    with qtbot.waitSignal(panel.database_failed, timeout=10000) as sig:
        panel.connect_button.click()
    assert "not-the-password-123" not in sig.args[0] and "not-the-password-123" not in panel.error_text()
    assert "password" in sig.args[0].lower() or "authentication" in sig.args[0].lower()
    assert "\n" not in panel.error_text()


@pytest.mark.slow
def test_server_stopped_while_browsing_shows_error_and_panel_recovers(
    qtbot: Any, panel: CheckpointBrowserPanel, run_async: Any, postgres_server: Any, postgres_url: str
) -> None:
    if postgres_server.external_url:
        pytest.skip("cannot stop an external server")
    run_async(fill_postgres(postgres_url, {"pg-a": 2}))
    _connect(qtbot, panel, postgres_url)
    postgres_server.stop("fast")  # "immediate" would lose the unflushed commits (fsync=off)
    try:
        qtbot.waitUntil(lambda: "Live tail stopped" in panel.error_text(), timeout=15000)
        panel.reload()
        qtbot.waitUntil(lambda: "listing sessions failed" in panel.error_text(), timeout=20000)
        assert "\n" not in panel.error_text() and "Traceback" not in panel.error_text()
        assert panel.search_edit.isEnabled() and panel.connect_button.isEnabled()
    finally:
        postgres_server.restart_later()
    _connect(qtbot, panel, postgres_url)  # usable again once the server is back
    assert panel.sessions.total_count == 1 and panel.error_text() == ""
