"""The run console shows its own run's interrupt inline and waits (the approval example end to end: run ->
interrupt inline -> answer -> finishes), the canvas draws the waiting node as waiting until it is answered,
and a refused answer (another session's interrupt) is one line, with nothing lost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QCheckBox, QLineEdit

from studio.canvas.items.node import RunStatus
from studio.controllers.run import RunState
from studio.main_window import MainWindow

from .conftest import FINISHED, approval_variant, extra_of, pause_sessions, stored


def run_to_interrupt(window: MainWindow, qtbot: Any, url: str, session: str) -> None:
    window.set_database(url)
    window.console.session.setText(session)
    assert window.console.run()
    qtbot.waitUntil(lambda: window.console.interrupts.isVisible(), timeout=15000)
    assert window.runs.state == RunState.PAUSED


def test_approval_example_runs_to_its_question_and_on_to_the_end(
    window: MainWindow, qtbot: Any, db_url: str, run_async: Any
) -> None:
    run_to_interrupt(window, qtbot, db_url, "approve-1")
    inline = window.console.interrupts
    assert "Publish the post about Weavegraph 1.0?" in inline.forms[0].prompt.text()
    assert "step 2" in inline.title.text() and "approve" in inline.title.text()
    # the canvas: the ask node waits (pulsing, hourglass, the prompt in its tooltip)
    item = window.graph_editor.scene.nodes["approve"]
    qtbot.waitUntil(lambda: item.status == RunStatus.ASKING, timeout=3000)
    qtbot.wait(200)  # the node.start batch of the interrupted run must not turn it back to "running"
    assert item.status == RunStatus.ASKING and item.step == 2
    assert "asks: Publish the post about Weavegraph 1.0?" in item.toolTip()
    before = item.pulse
    qtbot.waitUntil(lambda: item.pulse != before, timeout=2000)
    # the run waits: the interrupt is stored, pending
    [waiting] = run_async(stored(db_url, pending=True))
    assert waiting.session_id == "approve-1" and waiting.node == "approve"
    # answer with the generated form (a checkbox for {"type": "boolean"})
    box = inline.forms[0].field()
    assert isinstance(box, QCheckBox)
    box.setChecked(True)
    inline.answer_button.click()
    qtbot.waitUntil(lambda: window.runs.state in FINISHED, timeout=15000)
    assert window.runs.state == RunState.COMPLETED
    assert not inline.isVisible()
    assert '"approved": true' in window.console.final_state.toPlainText()
    assert "published the post about Weavegraph 1.0" in window.console.final_state.toPlainText()
    qtbot.waitUntil(lambda: item.status == RunStatus.DONE, timeout=3000)
    assert item._pulse_timer is None  # the waiting look is gone
    publish = window.graph_editor.scene.nodes["publish"]
    qtbot.waitUntil(lambda: publish.status == RunStatus.DONE, timeout=3000)  # a later event batch
    assert window.graph_editor.scene.nodes["discard"].status == RunStatus.IDLE
    # the same run went on (one session, its answer stored)
    [answered] = run_async(stored(db_url))
    assert answered.answer is True and not answered.pending
    assert run_async(extra_of(db_url, "approve-1"))["approved"] is True


def test_a_no_goes_the_other_way(window: MainWindow, qtbot: Any, db_url: str) -> None:
    run_to_interrupt(window, qtbot, db_url, "approve-no")
    window.console.interrupts.answer_button.click()  # the checkbox left unchecked: false
    qtbot.waitUntil(lambda: window.runs.state in FINISHED, timeout=15000)
    assert window.runs.state == RunState.COMPLETED
    assert "discarded the post" in window.console.final_state.toPlainText()


def test_a_schema_error_is_one_line_at_its_json_path_and_the_run_keeps_waiting(
    window: MainWindow, qtbot: Any, db_url: str, tmp_path: Path, run_async: Any
) -> None:
    schema = {
        "type": "object",
        "properties": {"ok": {"type": "boolean"}, "note": {"type": "string", "minLength": 3}},
        "required": ["ok", "note"],
    }
    assert window.open_path(str(approval_variant(tmp_path, schema)))
    run_to_interrupt(window, qtbot, db_url, "noted")
    inline = window.console.interrupts
    form = inline.forms[0]
    note = form.field("note")
    assert isinstance(note, QLineEdit) and isinstance(form.field("ok"), QCheckBox)
    assert not inline.answer()  # nothing typed: the required note is missing
    assert inline.error.isVisible() and "'note' is a required property" in inline.error.text()
    note.setText("no")
    note.editingFinished.emit()
    assert not inline.answer()
    assert inline.error.text() == "approve: $.note: 'no' is too short"
    assert window.runs.state == RunState.PAUSED
    assert len(run_async(stored(db_url, pending=True))) == 1  # nothing sent
    note.setText("ship it")
    note.editingFinished.emit()
    assert inline.answer()
    qtbot.waitUntil(lambda: window.runs.state in FINISHED, timeout=15000)
    assert run_async(extra_of(db_url, "noted"))["approved"] == {"ok": False, "note": "ship it"}


def test_answering_another_sessions_interrupt_is_refused_in_one_line(
    window: MainWindow, qtbot: Any, db_url: str, run_async: Any
) -> None:
    other = run_async(pause_sessions(window.build_app(), db_url, ["other"]))["other"][0]
    run_to_interrupt(window, qtbot, db_url, "mine")
    assert window.runs.answer({other.id: True})  # the engine refuses it; the run waits again
    inline = window.console.interrupts
    qtbot.waitUntil(lambda: inline.isVisible() and inline.error.isVisible(), timeout=10000)
    assert window.runs.state == RunState.PAUSED
    assert "belongs to session 'other'" in inline.error.text() and "\n" not in inline.error.text()
    pending = {i.session_id for i in run_async(stored(db_url, pending=True))}
    assert pending == {"other", "mine"}  # nothing lost
    inline.forms[0].field().setChecked(True)
    assert inline.answer()
    qtbot.waitUntil(lambda: window.runs.state in FINISHED, timeout=15000)
    assert window.runs.state == RunState.COMPLETED
    assert {i.session_id for i in run_async(stored(db_url, pending=True))} == {"other"}
