"""The session stepper on the engine runner: create, invoke, feed JSON Lines, finish, resume from SQLite."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from engine.graph.document import GraphDocument, load_document
from studio.controllers.stepper import StepperController
from studio.models.invocations import PatchError, parse_jsonl, parse_patch
from studio.panels.stepper import SessionStepperPanel
from tests.studio.browser.conftest import dispose

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def doc() -> GraphDocument:
    return load_document(ROOT / "resources" / "examples" / "market_ticks.wgraph.json")


@pytest.fixture
def stepper(
    qtbot: Any, bridge: Any, run_async: Callable[..., Any], doc: GraphDocument
) -> Iterator[SessionStepperPanel]:
    p = SessionStepperPanel(StepperController(bridge))
    p.set_document(doc)
    yield p
    run_async(p.aclose())
    dispose(p)


def test_parse_patch_reports_line_and_column() -> None:
    assert parse_patch("") == {}
    assert parse_patch('{"extra": {"tick": 2}}') == {"extra": {"tick": 2}}
    with pytest.raises(PatchError, match=r"line 2, column 13"):
        parse_patch('{"extra":\n {"tick": 2,,}}')
    with pytest.raises(PatchError, match="unknown key"):
        parse_patch('{"extras": {}}')
    with pytest.raises(PatchError, match="'messages' must be a list"):
        parse_patch('{"messages": ["hi"]}')
    with pytest.raises(PatchError, match="line 3"):
        parse_jsonl('{"extra": {"tick": 1}}\n\n{"extra": oops}\n')


def test_invalid_patch_disables_invoke_and_shows_position(qtbot: Any, stepper: SessionStepperPanel) -> None:
    with qtbot.waitSignal(stepper.session_changed):
        stepper.create_button.click()
    assert stepper.invoke_button.isEnabled()
    stepper.patch_edit.setPlainText('{"extra": {"tick": }')
    assert not stepper.invoke_button.isEnabled()
    assert "line 1, column 20" in stepper.patch_error.text()
    stepper.patch_edit.setPlainText('{"extra": {"tick": 3}}')
    assert stepper.invoke_button.isEnabled() and stepper.patch_error.text() == ""


def test_invoke_next_with_ctrl_enter_history_state_and_events(
    qtbot: Any, stepper: SessionStepperPanel
) -> None:
    assert [stepper.entry_combo.itemText(i) for i in range(stepper.entry_combo.count())] == [
        "Start",
        "accumulate",
        "report",
    ]
    stepper.session_edit.setText("ticks")
    with qtbot.waitSignal(stepper.session_changed, timeout=5000):
        stepper.create_button.click()
    assert stepper.current_session() == "ticks" and stepper.current_step() == 0
    stepper.patch_edit.setPlainText('{"extra": {"tick": 5}}')
    with qtbot.waitSignal(stepper.invocation_finished, timeout=5000):
        QTest.keyClick(stepper.patch_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    stepper.patch_edit.setPlainText(
        '{"extra": {"tick": 2}, "messages": [{"role": "user", "content": "more"}]}'
    )
    with qtbot.waitSignal(stepper.invocation_finished, timeout=5000):
        stepper.invoke_button.click()
    invs = stepper.invocations.invocations()
    assert [i.step for i in invs] == [2, 4]  # accumulate, report: two supersteps per invocation
    assert invs[-1].state is not None and invs[-1].state.extra["sum"] == 7
    assert stepper.invocations.data(stepper.invocations.index(1, 3)) == "tick=2, sum=7"
    assert stepper.current_step() == 4
    qtbot.waitUntil(
        lambda: any(e.scope == "__weavegraph_invocation_end__" for e in invs[1].events), timeout=3000
    )
    assert any(e.scope == "node.start" for e in invs[0].events)
    stepper.table.selectRow(0)
    assert "step 2" in stepper.state_view.title.text() and stepper.events_list.count() > 0
    with qtbot.waitSignal(stepper.session_changed) as sig:
        stepper.finish_button.click()
    assert sig.args == [""] and not stepper.invoke_button.isEnabled()


def test_feed_json_lines_with_progress_and_a_bad_line(
    qtbot: Any, stepper: SessionStepperPanel, tmp_path: Path
) -> None:
    with qtbot.waitSignal(stepper.session_changed, timeout=5000):
        stepper.create_button.click()
    feed = tmp_path / "ticks.jsonl"
    feed.write_text("\n".join(f'{{"extra": {{"tick": {i}}}}}' for i in range(1, 6)) + "\n")
    with qtbot.waitSignal(stepper.feed_finished, timeout=10000) as sig:
        stepper.feed_file(str(feed))
    assert sig.args == [5, False]
    assert stepper.invocations.invocations()[-1].state.extra["sum"] == 15  # type: ignore[union-attr]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"extra": {"tick": 1}}\nnot json\n')
    stepper.feed_file(str(bad))
    qtbot.waitUntil(lambda: "bad.jsonl line 2" in stepper.error_text(), timeout=3000)
    assert len(stepper.invocations.invocations()) == 5  # nothing of the bad file ran


def test_feed_cancel_stops_between_inputs(qtbot: Any, stepper: SessionStepperPanel, tmp_path: Path) -> None:
    with qtbot.waitSignal(stepper.session_changed, timeout=5000):
        stepper.create_button.click()
    feed = tmp_path / "many.jsonl"
    feed.write_text('{"extra": {"tick": 1}}\n' * 200)
    stepper.invocation_finished.connect(lambda row: stepper.cancel_button.click() if row == 2 else None)
    with qtbot.waitSignal(stepper.feed_finished, timeout=10000) as sig:
        stepper.feed_file(str(feed))
    assert sig.args == [3, True]
    assert stepper.invoke_button.isEnabled()


def test_resume_from_sqlite_continues_the_step_counter(
    qtbot: Any, stepper: SessionStepperPanel, tmp_path: Path
) -> None:
    url = f"sqlite://{tmp_path / 'steps.db'}"
    stepper.cp_combo.setCurrentIndex(1)
    stepper.url_edit.setText(url)
    stepper.session_edit.setText("durable")
    with qtbot.waitSignal(stepper.session_changed, timeout=5000):
        stepper.create_button.click()
    with qtbot.waitSignal(stepper.invocation_finished, timeout=5000):
        stepper.invoke_next()
    with qtbot.waitSignal(stepper.session_changed, timeout=5000):
        stepper.finish()
    with qtbot.waitSignal(stepper.session_changed, timeout=5000):
        stepper.open_session(url, "durable")
    assert stepper.current_step() == 2 and "resumed at step 2" in stepper.session_label.text()
    with qtbot.waitSignal(stepper.invocation_finished, timeout=5000):
        stepper.invoke_next()
    inv = stepper.invocations.invocations()[0]
    assert inv.step == 4 and inv.state is not None and inv.state.extra["sum"] == 2


def test_unknown_entry_and_unreachable_storage_are_inline_errors(
    qtbot: Any, stepper: SessionStepperPanel, tmp_path: Path
) -> None:
    stepper.cp_combo.setCurrentIndex(1)
    stepper.url_edit.setText(f"sqlite://{tmp_path / 'no' / 'such' / 'dir.db'}")
    stepper.create_button.click()
    qtbot.waitUntil(lambda: "does not exist" in stepper.error_text(), timeout=5000)
    assert stepper.create_button.isEnabled() and stepper.current_session() is None


def test_open_session_while_one_is_live_finishes_it_first(
    qtbot: Any, stepper: SessionStepperPanel, tmp_path: Path
) -> None:
    url = f"sqlite://{tmp_path / 'steps.db'}"
    with qtbot.waitSignal(stepper.session_changed, timeout=5000):
        stepper.open_session(url, "first")
    with qtbot.waitSignal(stepper.invocation_finished, timeout=5000):
        stepper.invoke_next()
    changes: list[str] = []
    stepper.session_changed.connect(changes.append)
    stepper.open_session(url, "second")
    qtbot.waitUntil(lambda: changes == ["", "second"], timeout=5000)
    assert stepper.current_session() == "second" and stepper.current_step() == 0
    assert stepper.url_edit.text() == url and stepper.cp_combo.currentIndex() == 1


@pytest.mark.postgres
def test_stepper_on_postgres_resumes_with_the_password_field(
    qtbot: Any, stepper: SessionStepperPanel, postgres_url: str
) -> None:
    from studio.services.storage import strip_password

    stepper.open_session(postgres_url, "pg-steps")
    qtbot.waitUntil(lambda: stepper.current_session() == "pg-steps", timeout=10000)
    assert stepper.cp_combo.currentIndex() == 2 and stepper.url_edit.text() == strip_password(postgres_url)
    assert stepper.password_edit.echoMode() == stepper.password_edit.EchoMode.Password
    with qtbot.waitSignal(stepper.invocation_finished, timeout=5000):
        stepper.invoke_next()
    with qtbot.waitSignal(stepper.session_changed, timeout=5000):
        stepper.finish()
    stepper.open_session(postgres_url, "pg-steps")
    qtbot.waitUntil(lambda: stepper.current_session() == "pg-steps", timeout=10000)
    assert stepper.current_step() == 2 and "resumed at step 2" in stepper.session_label.text()
    password = urllib.parse.unquote(urllib.parse.urlsplit(postgres_url).password or "")
    assert password and password not in stepper.session_label.text()
