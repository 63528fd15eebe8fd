"""The checkpoint browser on a LangGraph Postgres database written by LangGraph's PostgresSaver (the suite's
server): threads, the fork tree and analytics shown, and nothing written by browsing."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.checkpoint.postgres import PostgresSaver

from studio.panels.checkpoint_browser import CheckpointBrowserPanel
from tests.engine.foreign.lg_graphs import populate
from tests.engine.foreign.test_langgraph_postgres import _fingerprint

pytestmark = pytest.mark.postgres


def test_browse_a_langgraph_postgres_database(
    qtbot: Any, panel: CheckpointBrowserPanel, postgres_url: str, run_async: Any
) -> None:
    with PostgresSaver.from_conn_string(postgres_url) as saver:
        saver.setup()
        facts = populate(saver)
    before = run_async(_fingerprint(postgres_url))
    view = panel.langgraph_view
    with qtbot.waitSignal(view.threads_loaded, timeout=15000):
        panel.open_database(postgres_url)
    assert panel.controller.is_langgraph and view.total == 7
    assert "LangGraph database postgresql://" in view.banner.text()
    assert postgres_url.split("@")[0].split(":")[-1] not in view.banner.text()  # no password shown
    with qtbot.waitSignal(view.checkpoint_shown, timeout=15000):
        assert view.select_thread("chat-1")
    assert view.tree_widget.topLevelItemCount() == 13
    assert view.selected_checkpoint_id() == facts["fork"]
    assert view.shown is not None and view.shown.state.messages[-1].content == "forked"
    with qtbot.waitSignal(view.analytics_shown, timeout=15000):
        view.tabs.setCurrentIndex(2)
    assert view.report is not None and view.report.backend == "postgres"
    assert run_async(_fingerprint(postgres_url)) == before
