"""Prune preview equals what is deleted; one-line errors for bad files; live tail from another process."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from studio.panels.checkpoint_browser import CheckpointBrowserPanel
from tests.studio.browser.conftest import fill_sqlite, open_and_wait

ROOT = Path(__file__).resolve().parents[3]


def _count_steps(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM steps").fetchone()[0])


def test_prune_preview_equals_what_is_deleted(
    qtbot: Any, panel: CheckpointBrowserPanel, run_async: Any, tmp_path: Path
) -> None:
    db = tmp_path / "cp.db"
    run_async(fill_sqlite(db, {f"s{i:02d}": 3 + i for i in range(60)}))  # 60 sessions, steps 0..3+i
    before = _count_steps(db)
    open_and_wait(qtbot, panel, f"sqlite://{db}")
    dialog = panel.open_prune_dialog()
    assert not dialog.delete_button.isEnabled()  # nothing can be deleted before a preview
    dialog.keep_spin.setValue(2)
    dialog.vacuum_check.setChecked(True)
    dialog.preview_button.click()
    qtbot.waitUntil(lambda: dialog.delete_button.isEnabled(), timeout=5000)
    preview = dialog.preview_report
    assert preview is not None and preview.dry_run
    expected = sum(3 + i + 1 - 2 for i in range(60))
    assert preview.steps == expected and _count_steps(db) == before  # the dry run deleted nothing
    dialog.keep_spin.setValue(3)  # changing the options invalidates the preview
    assert not dialog.delete_button.isEnabled()
    dialog.keep_spin.setValue(2)
    dialog.preview_button.click()
    qtbot.waitUntil(lambda: dialog.delete_button.isEnabled(), timeout=5000)
    dialog.delete_button.click()
    qtbot.waitUntil(lambda: panel.last_prune is not None, timeout=10000)
    assert panel.last_prune is not None
    report, cancelled = panel.last_prune
    assert not cancelled
    assert (report.steps, report.bytes) == (preview.steps, preview.bytes)
    assert _count_steps(db) == before - preview.steps == 120
    assert "VACUUM done" in dialog.preview_label.text()
    assert dialog.progress.value() == dialog.progress.maximum()
    dialog.close()


def test_prune_selected_sessions_only_and_cancel(
    qtbot: Any, panel: CheckpointBrowserPanel, run_async: Any, tmp_path: Path
) -> None:
    db = tmp_path / "cp.db"
    run_async(fill_sqlite(db, {"a": 5, "b": 5, "c": 5}))
    open_and_wait(qtbot, panel, f"sqlite://{db}")
    panel.select_session("b")
    dialog = panel.open_prune_dialog()
    assert dialog.selected_check.isChecked() and dialog.options().session_ids == ("b",)
    dialog.keep_spin.setValue(1)
    dialog.preview_button.click()
    qtbot.waitUntil(lambda: dialog.delete_button.isEnabled(), timeout=5000)
    assert dialog.preview_report is not None and dialog.preview_report.steps == 5
    # a Cancel that lands before the first batch deletes nothing
    dialog.prune_requested.connect(lambda _options: dialog.cancel_requested.emit())
    dialog.delete_button.click()
    qtbot.waitUntil(lambda: panel.last_prune is not None, timeout=5000)
    assert panel.last_prune is not None and panel.last_prune[1] is True and panel.last_prune[0].steps == 0
    assert "Cancelled" in dialog.preview_label.text() and _count_steps(db) == 18
    dialog.close()


def test_foreign_missing_and_text_files_show_one_line_errors(
    qtbot: Any, panel: CheckpointBrowserPanel, run_async: Any, tmp_path: Path
) -> None:
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER)")
    text = tmp_path / "notes.db"
    text.write_text("hello, not a database\n" * 10)
    for path, words in (
        (foreign, "not a checkpoint database"),
        (text, "not an SQLite database"),
        (tmp_path / "missing.db", "does not exist"),
    ):
        with qtbot.waitSignal(panel.database_failed) as sig:
            panel.open_database(str(path))
        assert words in sig.args[0]
        assert words in panel.error_text() and "\n" not in panel.error_text()
        assert "Traceback" not in panel.error_text()
    assert with_tables(foreign) == {"invoices"}  # browsing never created tables in a foreign file
    good = tmp_path / "good.db"
    run_async(fill_sqlite(good, {"s": 1}))
    open_and_wait(qtbot, panel, str(good))  # the panel is still usable
    assert panel.sessions.total_count == 1 and panel.error_text() == ""


def with_tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_locked_file_shows_error_then_opens_after_release(
    qtbot: Any, panel: CheckpointBrowserPanel, run_async: Any, tmp_path: Path
) -> None:
    db = tmp_path / "cp.db"
    run_async(fill_sqlite(db, {"s": 2}))
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE sessions SET concurrency_limit = 2")
    try:
        with qtbot.waitSignal(panel.database_failed, timeout=8000) as sig:
            panel.open_database(str(db))
        assert "locked" in sig.args[0].lower()
        assert "locked" in panel.error_text().lower()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    open_and_wait(qtbot, panel, str(db))
    assert panel.sessions.total_count == 1


WRITER = textwrap.dedent(
    """
    import asyncio, sys, time
    sys.path.insert(0, {root!r})
    sys.path.insert(0, {tests!r})
    from conftest import make_checkpoint
    from engine.persistence.sqlite import SQLiteCheckpointer

    async def main():
        cp = await SQLiteCheckpointer.connect("sqlite://" + sys.argv[1])
        for step in range(4):
            await cp.save(make_checkpoint("from-other-process", step))
            await asyncio.sleep(0.15)
        await cp.aclose()

    asyncio.run(main())
    """
)


def test_live_tail_shows_steps_written_by_another_process(
    qtbot: Any, panel: CheckpointBrowserPanel, run_async: Any, tmp_path: Path
) -> None:
    db = tmp_path / "cp.db"
    run_async(fill_sqlite(db, {"existing": 1}))
    open_and_wait(qtbot, panel, str(db))
    with qtbot.waitSignal(panel.steps_loaded):
        panel.select_session("existing")
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(root=str(ROOT), tests=str(Path(__file__).parent)))
    seen: list[tuple[str, int]] = []
    panel.live_step_seen.connect(lambda s, n: seen.append((s, n)))
    proc = subprocess.Popen([sys.executable, str(script), str(db)], cwd=ROOT)
    try:
        qtbot.waitUntil(lambda: proc.poll() is not None, timeout=15000)
        assert proc.returncode == 0
        qtbot.waitUntil(lambda: len(seen) == 4, timeout=5000)
        qtbot.waitUntil(lambda: _last_step(panel, "from-other-process") == 3, timeout=5000)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert seen == [("from-other-process", i) for i in range(4)]
    assert panel.steps.session_id == "existing"  # the selection stayed where the user left it


def _last_step(panel: CheckpointBrowserPanel, session_id: str) -> int | None:
    s = panel.sessions.session_at(panel.sessions.row_of(session_id))
    return s.last_step if s is not None else None


def test_preview_can_be_cancelled_and_deletes_nothing(
    qtbot: Any, panel: CheckpointBrowserPanel, run_async: Any, tmp_path: Path
) -> None:
    db = tmp_path / "cp.db"
    run_async(fill_sqlite(db, {f"s{i:02d}": 3 for i in range(45)}))  # 3 batches of 20 sessions
    open_and_wait(qtbot, panel, str(db))
    dialog = panel.open_prune_dialog()
    dialog.keep_spin.setValue(1)
    seen: list[int] = []
    dialog.progress.valueChanged.connect(lambda v: (seen.append(v), dialog.cancel_button.click()))
    dialog.preview_button.click()
    assert dialog.cancel_button.isEnabled() and not dialog.preview_button.isEnabled()
    qtbot.waitUntil(lambda: "Preview cancelled" in dialog.preview_label.text(), timeout=5000)
    assert not dialog.delete_button.isEnabled() and dialog.preview_button.isEnabled()
    assert 1 in seen and _count_steps(db) == 45 * 4
    dialog.close()
