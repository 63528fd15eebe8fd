"""Fixtures shared by engine and studio tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings as _hypothesis_settings

from tests.pgserver import PostgresServer

# CI runs every property test on the same derandomized examples, so a run is reproducible; a local run keeps
# exploring new examples (that is how the fuzz suite found the problems it guards against).
_hypothesis_settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    _hypothesis_settings.load_profile("ci")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real throwaway PostgreSQL server for the whole test session (or WEAVEGRAPH_POSTGRES_TEST_URL)."""
    server = PostgresServer()
    reason = server.unavailable_reason()
    if reason:
        pytest.skip(reason)
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL (with password) of a fresh, empty database on the test server, dropped afterwards."""
    url = postgres_server.create_database()
    try:
        yield url
    finally:
        postgres_server.drop_database(url)


def pytest_addoption(parser: pytest.Parser) -> None:
    # Here (the root conftest) so that `pytest tests --fault-trials=100` works: options of deeper conftests
    # are only read when their directory is named on the command line.
    parser.addoption(
        "--fault-trials",
        type=int,
        default=10,
        help="kill -9 trials per storage mode in tests/faults (default 10; the long run uses 100)",
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A safety net, not a cleanup: an aiosqlite connection a test never closed (its object kept alive by a
    failure's traceback, say) keeps a non-daemon worker thread that would hang the interpreter's exit, and
    with it CI, after the summary. Stop such threads through aiosqlite's public `stop()` and name them, so
    the run ends with its real result."""
    import gc
    import sys
    import threading

    import aiosqlite

    def stuck() -> list[threading.Thread]:
        main = threading.main_thread()
        return [t for t in threading.enumerate() if t is not main and not t.daemon and t.is_alive()]

    left = stuck()
    if not left:
        return
    gc.collect()
    for obj in gc.get_objects():
        if isinstance(obj, aiosqlite.Connection):
            obj.stop()  # a no-op for one already closed
    names = ", ".join(sorted(t.name for t in left))
    print(
        f"\nconftest: threads left running at the end, aiosqlite connections stopped: {names}",
        file=sys.stderr,
    )
