"""Fixtures shared by engine and studio tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings as _hypothesis_settings

from tests.pgserver import PostgresServer

# The `closing` fixture; an aiosqlite connection a test leaves open fails the run (tests/aiosqlite_leaks.py).
pytest_plugins = ["tests.aiosqlite_leaks"]

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
