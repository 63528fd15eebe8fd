"""Time travel in the checkpoint browser on real SQLite files: lineage, "Fork from this step..." with its
preview (nothing written before Fork), "Replay from here..." with a live/recorded choice per node, and the
bad input: an existing id, a pruned step, a session without records, a record that no longer decodes -
each a one-line error naming the session and step, nothing written."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QApplication

from engine.persistence.base import PrunePolicy
from engine.persistence.sqlite import SQLiteCheckpointer
from engine.runner import AppRunner
from engine.state import VersionedState
from studio.panels.time_travel import ForkDialog, ReplayDialog
from tests.studio.browser.conftest import open_and_wait
from tests.studio.debugloop.conftest import CALLS, Debugging, debug_app, record_runs


def _sessions(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {r[0] for r in conn.execute("SELECT id FROM sessions")}


def _select(qtbot: Any, d: Debugging, session: str, step: int) -> None:
    with qtbot.waitSignal(d.browser.steps_loaded, timeout=5000):
        if d.browser.selected_session_id() == session:
            d.browser.reload()
        assert d.browser.select_session(session)
    row = d.browser.steps.row_of_step(step)
    assert row >= 0
    d.browser.steps_view.selectRow(row)
    assert d.time_travel.fork_button.isEnabled()


def _open_fork(qtbot: Any, d: Debugging) -> ForkDialog:
    with qtbot.waitSignal(d.controller.fork_previewed, timeout=5000):
        d.time_travel.fork_button.click()
    dialog = d.time_travel.dialog
    assert isinstance(dialog, ForkDialog) and dialog.isVisible()
    return dialog


def test_fork_previews_then_forks_and_shows_lineage(
    qtbot: Any, debugging: Debugging, run_async: Any, tmp_path: Path
) -> None:
    db = tmp_path / "runs.db"
    run_async(record_runs(db))
    d = debugging
    d.browser.show()
    open_and_wait(qtbot, d.browser, f"sqlite://{db}")
    _select(qtbot, d, "job", 2)
    dialog = _open_fork(qtbot, d)
    assert QApplication.activeModalWidget() in (None, dialog)  # opened with open(), never exec()
    assert dialog.editor.value() == {"extra": {"fetched": 0, "thought": "idea 0", "n": 1}}
    assert dialog.frontier.text() == "fetch, think"
    # the unchanged state: no version bump, both nodes run
    text = dialog.preview.toPlainText()
    assert "extra: v3 (unchanged)" in text and "Will run first: fetch, think" in text
    # edit the step's state: n jumps to 2 and the frontier is only think
    with qtbot.waitSignal(d.controller.fork_previewed, timeout=5000):
        dialog.editor.set_value({"extra": {"fetched": 0, "thought": "idea 0", "n": 2}})
        dialog.frontier.setText("think, nope")
        dialog.request_preview()
    text = dialog.preview.toPlainText()
    assert "extra: v3 \u2192 v4 (changed): n" in text and "messages: v1 (unchanged)" in text
    assert "Next frontier: think, nope" in text and "Not in this graph: nope" in text
    assert _sessions(db) == {"job"}  # the preview wrote nothing
    dialog.frontier.setText("think")
    with qtbot.waitSignal(d.controller.forked, timeout=5000):
        dialog.fork_button.click()
    assert dialog.status.text() == "Forked into 'job-fork-2'."
    assert _sessions(db) == {"job", "job-fork-2"}

    async def check() -> None:
        cp = await SQLiteCheckpointer.connect(f"sqlite://{db}")
        try:
            first = await cp.load_latest("job-fork-2")
            assert (
                first.step == 2
                and first.state.extra["n"] == 2
                and [k.name for k in first.frontier] == ["think"]
            )
            info = await cp.session_info("job-fork-2")
            assert (info.parent_session, info.parent_step) == ("job", 2)
        finally:
            await cp.aclose()

    run_async(check())
    # "Fork and run" hands the new session to the run console
    dialog.new_id.setText("job-fork-b")
    with qtbot.waitSignal(d.time_travel.run_requested, timeout=5000) as asked:
        dialog.fork_run_button.click()
    assert asked.args == [f"sqlite://{db}", "job-fork-b"]
    dialog.close()

    # the lineage tab: the family tree, parent step on each branch
    with qtbot.waitSignal(d.controller.lineage_loaded, timeout=5000):
        d.browser.tabs.setCurrentWidget(d.time_travel.lineage)
    assert d.time_travel.lineage.sessions() == [("job", ""), ("job-fork-2", "job"), ("job-fork-b", "job")]
    child = d.time_travel.lineage.tree.topLevelItem(0).child(0)
    assert child.text(1) == "2 of job"
    with qtbot.waitSignal(d.controller.lineage_loaded, timeout=5000):
        d.time_travel.lineage.tree.itemActivated.emit(child, 0)
    assert d.browser.selected_session_id() == "job-fork-2"
    assert "'job-fork-2': 2 fork(s) in its family" == d.time_travel.lineage.title.text()


def test_fork_errors_name_session_and_step_and_write_nothing(
    qtbot: Any, debugging: Debugging, run_async: Any, tmp_path: Path
) -> None:
    db = tmp_path / "runs.db"
    run_async(record_runs(db, sessions=("job", "taken")))
    d = debugging
    open_and_wait(qtbot, d.browser, f"sqlite://{db}")
    _select(qtbot, d, "job", 2)
    dialog = _open_fork(qtbot, d)
    dialog.new_id.setText("taken")
    with qtbot.waitSignal(d.controller.fork_error, timeout=5000):
        dialog.fork_button.click()
    assert dialog.error_bar.text() == (
        "forking 'job' at step 2 failed: session 'taken' already exists; choose another id"
    )
    # not an update: one line, nothing sent
    dialog.editor.set_text('{"extra": 3}')
    dialog.new_id.setText("fresh")
    dialog.fork_button.click()
    assert dialog.error_bar.text().startswith("session 'job' step 2: the update is not a node partial")
    # the step is pruned while the dialog is open
    dialog.editor.set_value({})

    async def prune() -> None:
        cp = await SQLiteCheckpointer.connect(f"sqlite://{db}")
        try:
            await cp.prune(PrunePolicy(keep_last=1))
        finally:
            await cp.aclose()

    run_async(prune())
    with qtbot.waitSignal(d.controller.fork_error, timeout=5000):
        dialog.request_preview()
    assert dialog.error_bar.text() == "session 'job' has no stored checkpoint at step 2 (missing or pruned)"
    with qtbot.waitSignal(d.controller.fork_error, timeout=5000):
        dialog.fork_button.click()
    assert "session 'job' has no stored checkpoint at step 2" in dialog.error_bar.text()
    assert "\n" not in dialog.error_bar.text()
    assert _sessions(db) == {"job", "taken"}
    dialog.close()


def _open_replay(qtbot: Any, d: Debugging) -> ReplayDialog:
    with qtbot.waitSignal(d.controller.replay_nodes, timeout=5000):
        d.time_travel.replay_button.click()
    dialog = d.time_travel.dialog
    assert isinstance(dialog, ReplayDialog)
    return dialog


def test_replay_recorded_and_live(qtbot: Any, debugging: Debugging, run_async: Any, tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    run_async(record_runs(db))
    d = debugging
    open_and_wait(qtbot, d.browser, f"sqlite://{db}")
    _select(qtbot, d, "job", 0)
    dialog = _open_replay(qtbot, d)
    assert dialog.node_names() == ["fetch", "think", "check"] and dialog.live_names() == []
    CALLS.clear()
    progress: list[int] = []
    d.controller.replay_progress.connect(progress.append)
    with qtbot.waitSignal(d.controller.replay_finished, timeout=10000):
        dialog.start_button.click()
    assert CALLS == {}  # every node returned its recorded output: none ran
    s = dialog.summary
    assert s is not None and len(s.recorded) == 9 and s.ran_live == [] and s.diverged_at is None
    assert dialog.result_label.text() == (
        "Replayed 'job' from step 0 into 'job-replay-0': 9 recorded, 0 live; followed the source to the end."
    )
    assert progress and max(progress) == 6
    # check live: only check runs for real
    dialog.new_id.setText("job-live-check")
    dialog.set_live(["check"])
    with qtbot.waitSignal(d.controller.replay_finished, timeout=10000):
        dialog.start_button.click()
    assert CALLS == {"check": 3}
    assert len(dialog.summary.ran_live) == 3 and dialog.summary.diverged_at is None
    assert {"job-replay-0", "job-live-check"} <= _sessions(db)
    dialog.close()


def test_replay_without_records_offers_live(
    qtbot: Any, debugging: Debugging, run_async: Any, tmp_path: Path
) -> None:
    db = tmp_path / "runs.db"

    async def unrecorded() -> None:
        cp = await SQLiteCheckpointer.connect(f"sqlite://{db}")
        try:
            builder = AppRunner.builder().app(debug_app()).checkpointer_custom(cp).record_nodes(False)
            async with await builder.build() as runner:
                await runner.create_session("plain", VersionedState.new_with_user_message("go"))
                await runner.run_until_complete("plain")
        finally:
            await cp.aclose()

    run_async(unrecorded())
    d = debugging
    open_and_wait(qtbot, d.browser, f"sqlite://{db}")
    _select(qtbot, d, "plain", 0)
    with qtbot.waitSignal(d.controller.replay_error, timeout=5000):
        dialog = _open_replay(qtbot, d)
    assert dialog.error_bar.text() == (
        "session 'plain' has no node records (made before records or with records off);"
        " choose live for every node to replay it live"
    )
    assert not dialog.live_all_button.isHidden()
    assert dialog.node_names() == ["fetch", "think", "check"]  # from the graph
    dialog.set_live(["fetch"])  # not all live: refused before anything is written
    with qtbot.waitSignal(d.controller.replay_error, timeout=5000):
        dialog.start_button.click()
    assert "has no node records" in dialog.error_bar.text() and _sessions(db) == {"plain"}
    CALLS.clear()
    with qtbot.waitSignal(d.controller.replay_finished, timeout=10000):
        dialog.live_all_button.click()
    assert CALLS["check"] == 3 and dialog.summary.recorded == []
    assert _sessions(db) == {"plain", "plain-replay-0"}
    dialog.close()


def test_replay_of_an_undecodable_record_writes_nothing(
    qtbot: Any, debugging: Debugging, run_async: Any, tmp_path: Path
) -> None:
    db = tmp_path / "runs.db"
    run_async(record_runs(db))
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE wg_node_records SET output_json = ?"
            " WHERE session_id = 'job' AND step = 3 AND node = 'fetch'",
            (json.dumps({"bogus": 1}),),
        )
    d = debugging
    open_and_wait(qtbot, d.browser, f"sqlite://{db}")
    _select(qtbot, d, "job", 1)
    dialog = _open_replay(qtbot, d)
    with qtbot.waitSignal(d.controller.replay_error, timeout=5000):
        dialog.start_button.click()
    text = dialog.error_bar.text()
    assert text.startswith("session 'job' step 3: the recorded output of node 'fetch' no longer decodes")
    assert "\n" not in text and dialog.live_all_button.isHidden()
    assert _sessions(db) == {"job"}
    dialog.close()


def test_replay_cancel(qtbot: Any, bridge: Any, run_async: Any, tmp_path: Path) -> None:
    """A long live replay runs off the UI thread (the loop stays responsive) and Cancel stops it."""
    db = tmp_path / "runs.db"
    run_async(record_runs(db))
    d = Debugging(bridge, lambda: debug_app(rounds=200))
    qtbot.addWidget(d.browser)
    qtbot.addWidget(d.inspector)
    try:
        open_and_wait(qtbot, d.browser, f"sqlite://{db}")
        _select(qtbot, d, "job", 0)
        dialog = _open_replay(qtbot, d)
        dialog.set_live(["fetch", "think", "check"])
        dialog.start_button.click()
        qtbot.waitUntil(
            lambda: "step 4" in dialog.result_label.text() or "step 5" in dialog.result_label.text(),
            timeout=10000,
        )
        assert dialog.cancel_button.isEnabled() and not dialog.progress.isHidden()
        dialog.cancel_button.click()
        assert "Replay cancelled" in dialog.result_label.text()
        qtbot.waitUntil(lambda: d.controller.replay_task is not None and d.controller.replay_task.done())
        assert d.controller.replay_task.cancelled()
        dialog.close()
    finally:
        run_async(d.controller.aclose())
        run_async(d.browser.aclose())
