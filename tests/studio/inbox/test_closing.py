"""Closing the window while a database is still being opened or read leaves nothing running and nothing open:
the inbox's read, a run that is still connecting, and two closes of one run at once. (A CI run once failed
because a read the inbox began when a run finished was still opening its database when the window closed.)"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from engine.state import VersionedState
from studio.controllers.run import RunState
from studio.controllers.run_session import RunSession
from studio.main_window import MainWindow

from .conftest import pause_sessions


def test_closing_the_inbox_in_the_middle_of_a_read_waits_for_it(
    window: MainWindow, qtbot: Any, db_url: str, run_async: Any
) -> None:
    run_async(pause_sessions(window.build_app(), db_url, ["a"]))
    inbox = window.inbox_controller
    window.set_database(db_url)  # the inbox opens the file and starts reading it
    assert window.bridge.owned_tasks(inbox), "the inbox should be reading"
    run_async(inbox.aclose())
    assert window.bridge.owned_tasks(inbox) == []  # the read ended before aclose returned
    assert inbox.store is None  # and what it opened is closed (not kept for later)


def test_closing_the_window_while_a_run_connects_closes_its_database(
    window: MainWindow, qtbot: Any, db_url: str, run_async: Any
) -> None:
    window.set_database(db_url)
    window.console.session.setText("closing")
    assert window.console.run()
    assert window.runs.state == RunState.CONNECTING
    session = window.runs.session
    assert session is not None
    run_async(window.runs.shutdown())
    assert window.runs.session is None
    assert window.bridge.owned_tasks(window.runs) == []  # the run ended before its storage was closed
    assert session.checkpointer is None


def test_a_second_close_of_a_run_returns_when_the_first_has_closed(
    window: MainWindow, db_url: str, run_async: Any
) -> None:
    def workers() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if "_connection_worker_thread" in t.name and t.is_alive()}

    async def scenario() -> tuple[set[threading.Thread], list[threading.Thread]]:
        state = VersionedState(extra={"topic": "twice"})
        session = RunSession(window.build_app(), state, url=db_url, session_id="twice", bus=window.bus)
        before = workers()
        await session.open()
        mine = workers() - before  # the connection's worker thread
        first = asyncio.ensure_future(session.close())
        await asyncio.sleep(0)  # the first close has begun
        await session.close()
        for thread in mine:  # ends once its connection is closed (without the loop running on)
            thread.join(2.0)
        alive = [t for t in mine if t.is_alive()]
        await first
        return mine, alive

    mine, alive = run_async(scenario())
    assert mine and alive == []
