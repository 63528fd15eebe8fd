"""The interrupt inbox (`interruptInbox`) on real SQLite files with sessions paused by real runs: the table
(session, graph, node, step, age, prompt), live refresh, answering one or many (they go on in the run
console), "Show answered", and bad input (already answered, not JSON, a schema error at its JSON path, a
session of another graph) as one line in the panel with nothing lost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QCheckBox

from studio.controllers.inbox import InboxController
from studio.controllers.run import RunState
from studio.main_window import MainWindow
from studio.panels.inbox import COLUMNS, InterruptInboxPanel, format_age
from studio.widgets.json_editor import JsonEditor

from .conftest import FINISHED, approval_variant, extra_of, pause_sessions, stored


def cell(panel: InterruptInboxPanel, row: int, column: str) -> str:
    item = panel.table.item(row, COLUMNS.index(column))
    return item.text() if item is not None else ""


def rows_by_session(panel: InterruptInboxPanel) -> dict[str, int]:
    return {cell(panel, r, "Session"): r for r in range(panel.table.rowCount())}


def open_inbox(window: MainWindow, qtbot: Any, url: str, rows: int) -> InterruptInboxPanel:
    window.set_database(url)
    panel = window.inbox
    qtbot.waitUntil(lambda: panel.table.rowCount() == rows, timeout=10000)
    return panel


def test_the_inbox_is_a_dock_of_the_window(window: MainWindow) -> None:
    assert window.findChild(InterruptInboxPanel, "interruptInbox") is window.inbox
    assert window.docks["interruptInbox"].objectName() == "interruptInboxDock"


def test_lists_every_pending_interrupt_and_refreshes_live(
    window: MainWindow, qtbot: Any, db_url: str, run_async: Any
) -> None:
    app = window.build_app()
    run_async(pause_sessions(app, db_url, ["s1", "s2"]))
    panel = open_inbox(window, qtbot, db_url, 2)
    assert panel.database.text().startswith("Database: sqlite://")
    rows = rows_by_session(panel)
    assert set(rows) == {"s1", "s2"}
    r = rows["s1"]
    assert cell(panel, r, "Graph") == "Approval"
    assert cell(panel, r, "Node") == "approve"
    assert cell(panel, r, "Step") == "2"
    assert cell(panel, r, "Age").endswith(" s")
    assert cell(panel, r, "Prompt") == "Publish the post about the inbox s1?"
    assert cell(panel, r, "Answer") == ""
    assert panel.count.text() == "2 waiting"
    # another process pauses a third session: it appears without any click
    run_async(pause_sessions(app, db_url, ["s3"]))
    qtbot.waitUntil(lambda: panel.table.rowCount() == 3, timeout=5000)
    assert cell(panel, 0, "Session") == "s3"  # newest first


def test_answering_many_runs_each_session_on_in_the_console(
    window: MainWindow, qtbot: Any, db_url: str, run_async: Any
) -> None:
    run_async(pause_sessions(window.build_app(), db_url, ["a", "b", "c"]))
    panel = open_inbox(window, qtbot, db_url, 3)
    ids = {cell(panel, r, "Session"): panel.table.item(r, 0).data(256) for r in range(3)}
    panel.select_ids([ids["a"], ids["c"]])
    assert panel.answer_button.text() == "Answer 2 selected"
    assert panel.form is not None
    box = panel.form.field()
    assert isinstance(box, QCheckBox)
    box.setChecked(True)
    panel.answer_button.click()
    # both sessions go on in the run console, one after the other, and finish
    qtbot.waitUntil(lambda: "answered 2 interrupts" in panel.status.text(), timeout=5000)
    qtbot.waitUntil(
        lambda: (
            {i.session_id for i in run_async(stored(db_url, pending=True))} == {"b"}
            and window.runs.state in FINISHED
            and not window.inbox_controller.orders
        ),
        timeout=20000,
    )
    assert window.runs.state == RunState.COMPLETED
    for sid in ("a", "c"):
        assert run_async(extra_of(db_url, sid))["approved"] is True
    assert "approved" not in run_async(extra_of(db_url, "b"))
    qtbot.waitUntil(lambda: panel.table.rowCount() == 1, timeout=5000)
    # "Show answered": the answered ones stay visible with their answers
    panel.show_answered.setChecked(True)
    qtbot.waitUntil(lambda: panel.table.rowCount() == 3, timeout=5000)
    rows = rows_by_session(panel)
    assert cell(panel, rows["a"], "Answer") == "true" and cell(panel, rows["b"], "Answer") == ""
    panel.select_ids([ids["a"]])
    assert not panel.answer_button.isEnabled()
    assert "was answered at" in panel.hint.text() and panel.hint.text().endswith(": true")


def test_an_interrupt_answered_meanwhile_is_refused_and_nothing_is_sent(
    window: MainWindow, qtbot: Any, db_url: str, run_async: Any
) -> None:
    app = window.build_app()
    run_async(pause_sessions(app, db_url, ["x", "y"]))
    panel = open_inbox(window, qtbot, db_url, 2)
    panel.controller.timer.stop()  # the table is now older than the database
    rows = rows_by_session(panel)
    ids = [panel.table.item(rows[s], 0).data(256) for s in ("x", "y")]

    async def answer_elsewhere() -> None:  # another process answers x
        from studio.services import storage

        cp = await storage.open_storage(db_url)
        try:
            runner = await storage.build_runner(app, cp)
            await runner.resume("x", {ids[0]: False})
        finally:
            await cp.aclose()

    run_async(answer_elsewhere())
    panel.select_ids(ids)
    assert panel.form is not None
    panel.form.field().setChecked(True)
    assert panel.answer()
    qtbot.waitUntil(panel.error.isVisible, timeout=5000)
    text = panel.error.text()
    assert "(approve, session 'x') was already answered at" in text and "nothing was sent" in text
    assert "\n" not in text
    assert window.runs.state == RunState.IDLE and not window.inbox_controller.orders
    assert [i.session_id for i in run_async(stored(db_url, pending=True))] == ["y"]  # y still waits


def test_an_answer_that_is_not_json_or_misses_the_schema_is_one_line(
    window: MainWindow, qtbot: Any, db_url: str, tmp_path: Path, run_async: Any
) -> None:
    # no schema: a raw JSON editor
    assert window.open_path(str(approval_variant(tmp_path, None, "free")))
    run_async(pause_sessions(window.build_app(), db_url, ["free"]))
    panel = open_inbox(window, qtbot, db_url, 1)
    panel.select_ids([panel.table.item(0, 0).data(256)])
    assert panel.form is not None and isinstance(panel.form.raw, JsonEditor)
    panel.form.raw.set_text("yes please")
    assert not panel.answer()
    assert panel.error.text().startswith("the answer is not JSON: line 1, column 1")
    qtbot.wait(1500)  # a live refresh keeps what was typed and the error
    assert panel.form.raw.text() == "yes please" and panel.error.isVisible()
    assert len(run_async(stored(db_url, pending=True))) == 1
    panel.form.raw.set_text('{"verdict": "yes"}')
    assert panel.answer()
    qtbot.waitUntil(lambda: window.runs.state in FINISHED, timeout=15000)
    assert run_async(extra_of(db_url, "free"))["approved"] == {"verdict": "yes"}


def test_the_same_answer_must_fit_every_selected_schema(
    window: MainWindow, qtbot: Any, db_url: str, tmp_path: Path, run_async: Any
) -> None:
    schema = {"type": "array", "items": {"type": "string"}, "title": "Tags"}
    assert window.open_path(str(approval_variant(tmp_path, schema, "tags")))
    run_async(pause_sessions(window.build_app(), db_url, ["t"]))
    panel = open_inbox(window, qtbot, db_url, 1)
    panel.select_ids([panel.table.item(0, 0).data(256)])
    assert panel.form is not None
    editor = panel.form.field()
    assert isinstance(editor, JsonEditor)
    editor.set_text('["ok", 3]')
    assert not panel.answer()
    assert panel.error.text() == "approve (session 't'): $[1]: 3 is not of type 'string'"
    assert window.runs.state == RunState.IDLE


def test_a_session_of_another_graph_is_not_answered_with_the_open_document(
    window: MainWindow, qtbot: Any, db_url: str, run_async: Any
) -> None:
    run_async(pause_sessions(window.build_app(), db_url, ["elsewhere"]))
    assert window.open_example("market_ticks")
    panel = open_inbox(window, qtbot, db_url, 1)
    panel.select_ids([panel.table.item(0, 0).data(256)])
    assert panel.form is not None
    assert panel.answer()
    qtbot.waitUntil(panel.error.isVisible, timeout=5000)
    assert "session 'elsewhere' was written by 'Approval'" in panel.error.text()
    assert "open that graph to answer it" in panel.error.text()
    assert window.runs.state == RunState.IDLE
    assert len(run_async(stored(db_url, pending=True))) == 1


def test_a_missing_database_file_is_a_hint_until_a_run_creates_it(
    window: MainWindow, qtbot: Any, db_url: str
) -> None:
    window.set_database(db_url)
    qtbot.waitUntil(window.inbox.error.isVisible, timeout=5000)
    assert "created by the first run" in window.inbox.error.text()
    window.console.session.setText("first")
    assert window.console.run()
    qtbot.waitUntil(lambda: window.inbox.table.rowCount() == 1, timeout=15000)
    assert not window.inbox.error.isVisible()


def test_format_age() -> None:
    import datetime as dt

    assert format_age(dt.timedelta(seconds=12)) == "12 s"
    assert format_age(dt.timedelta(minutes=4, seconds=5)) == "4 min"
    assert format_age(dt.timedelta(hours=3)) == "3 h"
    assert format_age(dt.timedelta(days=2, hours=1)) == "2 d"


def test_controller_refuses_an_empty_answer(window: MainWindow, qtbot: Any) -> None:
    controller: InboxController = window.inbox_controller
    with qtbot.waitSignal(controller.rejected, timeout=2000) as blocker:
        controller.answer({})
    assert blocker.args == ["select the interrupts to answer"]
