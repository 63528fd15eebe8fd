"""The node inspector on real records: a step selected in the checkpoint browser, the node chooser, back and
forth through a node's runs, retries, and a failing node's user traceback as collapsible text (no dialog)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QApplication

from tests.studio.browser.conftest import open_and_wait
from tests.studio.debugloop.conftest import Debugging, record_runs


def _select_step(qtbot: Any, d: Debugging, session: str, step: int) -> None:
    with qtbot.waitSignal(d.browser.steps_loaded, timeout=5000):
        assert d.browser.select_session(session)
    row = d.browser.steps.row_of_step(step)
    assert row >= 0
    with qtbot.waitSignal(d.inspector.shown, timeout=5000):
        d.browser.steps_view.selectRow(row)


def test_a_step_in_the_browser_opens_its_nodes(
    qtbot: Any, debugging: Debugging, run_async: Any, tmp_path: Path
) -> None:
    db = tmp_path / "runs.db"
    run_async(record_runs(db))
    d = debugging
    open_and_wait(qtbot, d.browser, f"sqlite://{db}")
    _select_step(qtbot, d, "job", 1)
    run = d.inspector.run
    assert run is not None and run.record.step == 1 and run.record.node == "fetch"
    assert "Node 'fetch' · step 1 of session 'job'" in d.inspector.title.text()
    assert [d.inspector.node_combo.itemText(i) for i in range(d.inspector.node_combo.count())] == [
        "fetch",
        "think",
    ]
    # received: the state of step 0 (the user's message, no extra yet); returned: its own partial
    assert d.inspector.received_model.value["messages"]["items"][0]["content"] == "plan a trip"
    assert d.inspector.returned_model.value == {"extra": {"fetched": 0}}
    assert "done" in d.inspector.facts.text() and "1 attempt" in d.inspector.facts.text()
    assert not d.inspector.traceback_toggle.isVisible() and not d.inspector.error_bar.isVisible()

    # the other node of the step: retried once (2 attempts), its output only its own
    with qtbot.waitSignal(d.inspector.shown, timeout=5000):
        d.inspector.node_combo.setCurrentIndex(1)
        d.inspector.node_combo.activated.emit(1)
    assert d.inspector.run.record.node == "think"
    assert "2 attempts" in d.inspector.facts.text()
    assert d.inspector.returned_model.value == {"extra": {"thought": "idea 0"}}

    # back and forth through think's runs: steps 1, 3, 5
    assert d.inspector.position.text() == "run 1 of 3" and not d.inspector.prev_button.isEnabled()
    with qtbot.waitSignal(d.inspector.shown, timeout=5000):
        d.inspector.next_button.click()
    assert d.inspector.run.record.step == 3 and d.inspector.position.text() == "run 2 of 3"
    assert d.inspector.returned_model.value == {"extra": {"thought": "idea 1"}}
    assert d.inspector.received_model.value["extra"]["map"]["n"] == 1  # what it saw: after check's step 2
    with qtbot.waitSignal(d.inspector.shown, timeout=5000):
        d.inspector.next_button.click()
    assert d.inspector.run.record.step == 5 and not d.inspector.next_button.isEnabled()
    assert not d.inspector.step_run(1)
    with qtbot.waitSignal(d.inspector.shown, timeout=5000):
        d.inspector.prev_button.click()
    assert d.inspector.run.record.step == 3


def test_a_failed_node_shows_its_user_traceback_collapsed(
    qtbot: Any, debugging: Debugging, run_async: Any, tmp_path: Path
) -> None:
    db = tmp_path / "runs.db"
    run_async(record_runs(db, sessions=("bad",), fail="bad"))
    d = debugging
    open_and_wait(qtbot, d.browser, f"sqlite://{db}")
    with qtbot.waitSignal(d.browser.steps_loaded, timeout=5000):
        assert d.browser.select_session("bad")
    with qtbot.waitSignal(d.inspector.shown, timeout=5000):
        d.inspector.inspect("bad", "check", None)  # its last run: the failing one
    rec = d.inspector.run.record
    assert rec.status == "failed" and rec.step == 4
    assert d.inspector.error_bar.text() == "failed: the checker refuses n=2"
    tb = d.inspector.traceback_text()
    assert "user_check" in tb and "raise ValueError" in tb and "ValueError: the checker refuses n=2" in tb
    assert "/engine/" not in tb  # the user's own frames only
    assert d.inspector.returned_label.text() == "Returned: nothing (failed)"
    d.inspector.show()
    assert d.inspector.traceback_toggle.isVisible() and not d.inspector.traceback.isVisible()
    d.inspector.traceback_toggle.click()
    assert d.inspector.traceback.isVisible()
    d.inspector.traceback_toggle.click()
    assert not d.inspector.traceback.isVisible()
    assert QApplication.activeModalWidget() is None  # never a dialog


def test_a_session_without_records_says_so(
    qtbot: Any, debugging: Debugging, run_async: Any, tmp_path: Path
) -> None:
    from tests.studio.browser.conftest import fill_sqlite

    db = tmp_path / "old.db"
    run_async(fill_sqlite(db, {"old": 3}))
    d = debugging
    open_and_wait(qtbot, d.browser, f"sqlite://{db}")
    with qtbot.waitSignal(d.controller.inspect_empty, timeout=5000):
        d.inspector.inspect("old", "A", None)
    assert "has no node records (made before records or with records off)" in d.inspector.empty.text()
    assert d.inspector.run is None and d.inspector.body.isHidden()
