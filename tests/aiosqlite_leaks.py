"""A pytest plugin (loaded by tests/conftest.py): the `closing` fixture, and an aiosqlite connection left open
fails the run.

Each open aiosqlite connection keeps a non-daemon worker thread, which would hang the interpreter's exit (and
with it CI) after pytest's summary. At the end of the session this plugin stops such threads through
aiosqlite's public `stop()` so the process can exit, names each leaked connection's thread with the test
during which it started, and turns a passing run's exit status into a failure: a leak never passes silently.
"""

from __future__ import annotations

import gc
import sys
import threading
import warnings
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

Closing = Callable[[Awaitable[T]], Awaitable[T]]
"""The type of the `closing` fixture."""


@pytest.fixture
async def closing() -> AsyncIterator[Closing[Any]]:
    """`cp = await closing(SQLiteCheckpointer.connect(url))`: whatever it opens (anything with `aclose()`) is
    closed when the test ends, also when it fails; a test may still close it earlier itself (closing twice is
    allowed). An aiosqlite connection a failing test left open would keep the run from exiting."""
    opened: list[Any] = []

    async def open_(awaitable: Awaitable[Any]) -> Any:
        obj = await awaitable
        opened.append(obj)
        return obj

    yield open_
    for obj in reversed(opened):
        await obj.aclose()


_ORIGIN: weakref.WeakKeyDictionary[threading.Thread, str] = weakref.WeakKeyDictionary()
"""For each non-daemon thread, the test after which it was first seen running (it started during that test's
set-up, call or teardown)."""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    yield  # setup, call and teardown of `item`
    for thread in threading.enumerate():
        if not thread.daemon and thread not in _ORIGIN and thread is not threading.main_thread():
            _ORIGIN[thread] = item.nodeid


WORKER = "_connection_worker_thread"
"""The target function of aiosqlite's worker threads, part of each one's default name."""


def stop_leaked_connections() -> list[threading.Thread]:
    """Stop every aiosqlite connection (public `stop()`, a no-op for one already closed) when a worker thread
    is still running; the threads that were running, ended now."""
    from aiosqlite import Connection

    running = [t for t in threading.enumerate() if WORKER in t.name and t.is_alive()]
    for thread in running:
        thread.join(0.5)  # one closed at the very end may still be finishing: not a leak
    running = [t for t in running if t.is_alive()]
    if not running:
        return []
    with warnings.catch_warnings():
        # A connection found only as garbage here warns in its __del__ and then stops its own thread; under
        # the suite's "error" filter the warning would raise first and the thread would never be stopped.
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    for obj in gc.get_objects():
        if isinstance(obj, Connection):
            obj.stop()
    for thread in running:
        thread.join(5)
    return running


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    stopped = stop_leaked_connections()
    if not stopped:
        return
    lines = [f"  {t.name}: running since {_ORIGIN.get(t, 'before the first test ended')}" for t in stopped]
    head = (
        f"aiosqlite_leaks: {len(stopped)} aiosqlite connection(s) never closed (stopped now; the run fails):"
    )
    print("\n" + "\n".join([head, *lines]), file=sys.stderr)
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
