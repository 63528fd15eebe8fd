"""Checkpointer fixtures: the same tests run on in-memory, SQLite and a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest


async def open_backend(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Any:
    if kind == "memory":
        from engine.persistence.memory import InMemoryCheckpointer

        return InMemoryCheckpointer()
    if kind == "sqlite":
        from engine.persistence.sqlite import SQLiteCheckpointer

        return await SQLiteCheckpointer.connect(f"sqlite://{tmp_path / 'cp.db'}", poll_interval=0.05)
    from engine.persistence.postgres import PostgresCheckpointer

    url = request.getfixturevalue("postgres_url")
    return await PostgresCheckpointer.connect(url)


BACKENDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
async def checkpointer(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    cp = await open_backend(request.param, tmp_path, request)
    try:
        yield cp
    finally:
        await cp.aclose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def durable(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """Only the backends that keep every step."""
    cp = await open_backend(request.param, tmp_path, request)
    try:
        yield cp
    finally:
        await cp.aclose()
