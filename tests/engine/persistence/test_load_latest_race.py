"""`load_latest` while another connection creates the session: the compact reader asks two statements (two
snapshots), and a session committed between them must load, never read as "missing from the steps table"."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.engine.persistence.conftest import open_backend
from tests.engine.persistence.helpers import make_cp

SESSIONS = 150


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_a_session_created_between_the_two_reads_loads(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    writer: Any = await open_backend(kind, tmp_path, request)
    reader: Any = await open_backend(kind, tmp_path, request)
    assert reader.storage_mode == "compact"
    try:
        for i in range(SESSIONS):
            sid = f"race-{i}"
            created = asyncio.Event()

            async def create(sid: str = sid, created: asyncio.Event = created) -> None:
                await asyncio.sleep(0)
                await writer.save(make_cp(sid, 0))
                created.set()

            task = asyncio.create_task(create())
            # Poll until the new session is seen; a poll that starts after the commit must see it.
            while True:
                committed = created.is_set()
                loaded = await reader.load_latest(sid)
                if loaded is not None:
                    break
                assert not committed, f"{sid} was committed but does not load"
            assert loaded.step == 0 and loaded.session_id == sid
            await task
    finally:
        await reader.aclose()
        await writer.aclose()
