"""Issue 14, the running side: the stepper uses the studio's database, Stop reads "stopped" everywhere, a
python node's module beside its document imports (and an unimportable one is a problem before the run), the
user's traceback is one toggle away, a new run starts clean, and edges light from `edge.routed` events."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QApplication, QDialog

from engine.events.event import Event
from studio.controllers.run import RunState, user_traceback
from studio.document.io import OpenedDocument

FINISHED = (RunState.COMPLETED, RunState.FAILED, RunState.STOPPED)


def wait_finished(qtbot: Any, w: Any, timeout: int = 15000) -> str:
    qtbot.waitUntil(lambda: w.runs.state in FINISHED, timeout=timeout)
    qtbot.wait(150)  # the last event batch
    w.run_log.flush_all()
    return str(w.runs.state)


# ---------------------------------------------------------------------- 3. the stepper's database


def test_stepper_defaults_to_the_studio_database(
    main_window: Any, qtbot: Any, tmp_path: Path, run_async: Any
) -> None:
    w = main_window
    db = tmp_path / "studio.db"
    w.set_database(f"sqlite://{db.as_posix()}")
    stepper = w.stepper
    assert stepper.cp_combo.currentIndex() == 1 and stepper.url_edit.text() == f"sqlite://{db.as_posix()}"
    stepper.cp_combo.setCurrentIndex(0)
    stepper.cp_combo.setCurrentIndex(1)  # SQLite again: the studio's file, never ./weavegraph.db
    assert stepper.url_edit.text() == f"sqlite://{db.as_posix()}"
    stepper.session_edit.setText("stepped")
    with qtbot.waitSignal(stepper.session_changed, timeout=5000):
        stepper.create_button.click()
    with qtbot.waitSignal(stepper.invocation_finished, timeout=5000):
        stepper.invoke_next()
    with qtbot.waitSignal(stepper.session_changed, timeout=5000):
        stepper.finish()
    assert "stepped" in run_async(list_sessions(f"sqlite://{db.as_posix()}"))
    assert not Path("weavegraph.db").exists() or Path("weavegraph.db").stat().st_mtime < time.time() - 60


async def list_sessions(url: str) -> list[str]:
    from engine.persistence.factory import open_checkpointer

    cp = await open_checkpointer(url)
    try:
        return list(await cp.list_sessions())
    finally:
        await cp.aclose()


# ---------------------------------------------------------------------- 5. Stop is "stopped"


def slow_document() -> dict[str, Any]:
    return {
        "format": "weavegraph.graph",
        "version": 1,
        "name": "slow",
        "nodes": [{"id": "wait", "type": "delay", "config": {"ms": 10_000}, "position": [0, 0]}],
        "edges": [{"from": "Start", "to": "wait"}, {"from": "wait", "to": "End"}],
    }


def test_a_stopped_run_reads_stopped_everywhere(main_window: Any, qtbot: Any) -> None:
    w = main_window
    w.documents._apply(OpenedDocument(slow_document()))
    assert w.console.run()
    qtbot.waitUntil(lambda: w.graph_editor.scene.node_statuses().get("wait") == "running", timeout=5000)
    w.commands.stop.trigger()
    assert wait_finished(qtbot, w) == RunState.STOPPED
    assert w.graph_editor.scene.node_statuses()["wait"] == "cancelled"
    events = w.run_log.events()
    run_end = [e for e in events if e.scope == "run.end"]
    assert run_end and run_end[-1].metadata.get("status") == "stopped" and "stopped" in run_end[-1].message
    stream_end = [e for e in events if e.is_stream_end]
    assert stream_end and "status=stopped" in stream_end[-1].message
    assert not any("CancelledError" in e.message or "failed" in e.message for e in events)
    assert not w.console.error_label.isVisible()
    assert "stopped" in w.console.state_label.text()


# ---------------------------------------------------------------------- 6. python nodes beside the document


def write_code_document(folder: Path, ref: str, module: str = "", code: str = "") -> Path:
    if module:
        (folder / f"{module}.py").write_text(code)
    doc = folder / "code.wgraph.json"
    doc.write_text(
        json.dumps(
            {
                "format": "weavegraph.graph",
                "version": 1,
                "name": "beside",
                "nodes": [{"id": "P", "type": "python", "config": {"callable": ref}, "position": [0, 0]}],
                "edges": [{"from": "Start", "to": "P"}, {"from": "P", "to": "End"}],
            }
        )
    )
    return doc


MODULE = """
from engine.partial import NodePartial


def hello(snapshot, ctx):
    return NodePartial(extra={"greeting": "hi from beside"})


def broken(snapshot, ctx):
    values = {}
    return NodePartial(extra={"x": values["missing"]})
"""


def test_a_module_beside_a_trusted_document_imports_and_runs(
    main_window: Any, qtbot: Any, tmp_path: Path
) -> None:
    w = main_window
    doc = write_code_document(tmp_path, "beside_mod_a:hello", "beside_mod_a", MODULE)
    assert w.open_path(str(doc))
    w.documents.trust_current()
    assert not [p for p in w.graph_editor.validate_now()]
    assert w.console.run()
    assert wait_finished(qtbot, w) == RunState.COMPLETED, w.runs.last_error
    assert "hi from beside" in w.console.final_state.toPlainText()


def test_an_unimportable_callable_is_a_problem_before_the_run(main_window: Any, tmp_path: Path) -> None:
    w = main_window
    assert w.open_path(str(write_code_document(tmp_path, "no_such_module_here:fn")))
    w.documents.trust_current()
    problems = w.graph_editor.validate_now()
    assert [p.path for p in problems] == ["$.nodes[0].config.callable"], problems
    assert "cannot import no_such_module_here:fn" in problems[0].message
    assert problems[0].node_id == "P"
    assert "can run" not in w.problems.list.item(0).text()


def test_a_failing_node_shows_the_users_traceback_behind_a_toggle(
    main_window: Any, qtbot: Any, tmp_path: Path
) -> None:
    w = main_window
    doc = write_code_document(tmp_path, "beside_mod_b:broken", "beside_mod_b", MODULE)
    assert w.open_path(str(doc))
    w.documents.trust_current()
    assert w.console.run()
    assert wait_finished(qtbot, w) == RunState.FAILED
    failure = w.console.failure
    assert failure.error_label.isVisible() and "Traceback" not in failure.error_label.text()
    assert failure.toggle.isVisible() and not failure.traceback.isVisible()  # collapsed
    failure.toggle.click()
    text = failure.traceback.toPlainText()
    assert failure.traceback.isVisible() and "beside_mod_b.py" in text and 'values["missing"]' in text
    assert "KeyError" in text and "engine/" not in text  # the user's frames only
    assert not [d for d in QApplication.topLevelWidgets() if isinstance(d, QDialog) and d.isVisible()]


def test_user_traceback_keeps_only_user_frames() -> None:
    def user_code() -> None:
        raise ValueError("boom")

    try:
        user_code()
    except ValueError as exc:
        text = user_traceback(exc)
    assert "user_code" in text and "ValueError: boom" in text
    assert user_traceback(RuntimeError("no frames")) == ""


# ---------------------------------------------------------------------- 12. a new run starts clean


def test_a_new_run_starts_with_follow_on_and_an_empty_detail(main_window: Any, qtbot: Any) -> None:
    w = main_window
    assert w.open_example("fails_on_purpose")
    assert w.console.run()
    assert wait_finished(qtbot, w) == RunState.FAILED
    qtbot.waitUntil(lambda: '"node.error"' in w.console.detail.toPlainText(), timeout=3000)
    assert not w.console.follow.isChecked()  # selecting the error event stopped following
    assert w.open_example("market_ticks")
    assert w.console.run()  # run_started comes at once: the console is clean before any event arrives
    assert w.console.follow.isChecked()
    assert w.console.detail.toPlainText() == ""
    assert not w.console.table.selectionModel().hasSelection()
    wait_finished(qtbot, w)


# ---------------------------------------------------------------------- C1: edges from edge.routed


def routed(source: str, target: str, step: int, conditional: bool = False) -> Event:
    return Event.create(
        "lifecycle",
        "edge.routed",
        f"{source} -> {target}",
        step=step,
        invocation_id="s1",
        metadata={"source": source, "target": target, "step": step, "conditional": conditional},
    )


def test_edges_light_exactly_from_edge_routed_events(main_window: Any) -> None:
    w = main_window
    assert w.open_example("market_ticks")
    scene = w.graph_editor.scene
    w.runs.run_started.emit()
    ran = Event.create(
        "lifecycle",
        "step.end",
        "step 1 done",
        step=1,
        invocation_id="s1",
        metadata={"ran": ["accumulate"], "next_frontier": ["report"]},
    )
    w.runs._on_pump_batch_ready([ran])  # step.end alone lights nothing: no reconstruction
    assert not [e.key for e in scene.edges.values() if e.active]
    w.runs._on_pump_batch_ready([routed("Start", "accumulate", 0), routed("accumulate", "report", 1)])
    active = sorted(e.key for e in scene.edges.values() if e.active)
    assert active == [("Start", "accumulate"), ("accumulate", "report")]
