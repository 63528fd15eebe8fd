"""Export/import and copying between databases convert between full and compact storage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.persistence.errors import CheckpointDataError
from engine.persistence.sqlite import SQLiteCheckpointer
from engine.persistence.transfer import copy_checkpoints, export_jsonl, import_jsonl
from tests.engine.persistence.helpers import make_cp


async def _fill(cp: Any) -> None:
    for sid, n in (("a", 7), ("b", 3)):
        for step in range(n):
            await cp.save(make_cp(sid, step, graph_hash="beef"))


async def _steps(cp: Any, sid: str) -> list[Any]:
    return [
        (c.step, c.state, c.frontier, c.ran_nodes, c.created_at)
        for c in (await cp.query_steps(sid)).checkpoints
    ]


async def test_full_to_compact_through_jsonl(tmp_path: Path) -> None:
    full = await SQLiteCheckpointer.connect(f"sqlite://{tmp_path / 'full.db'}", storage_mode="full")
    compact = await SQLiteCheckpointer.connect(f"sqlite://{tmp_path / 'compact.db'}")
    try:
        await _fill(full)
        assert await export_jsonl(full, tmp_path / "out.jsonl") == 10
        assert await import_jsonl(compact, tmp_path / "out.jsonl") == 10
        for sid in ("a", "b"):
            assert await _steps(compact, sid) == await _steps(full, sid)
        assert await compact.graph_hash("a") == "beef"
        assert sorted(await compact.list_sessions()) == ["a", "b"]
        assert (await compact.storage_stats()).total_bytes < (await full.storage_stats()).total_bytes
    finally:
        await full.aclose()
        await compact.aclose()


@pytest.mark.postgres
async def test_copy_between_backends(tmp_path: Path, postgres_url: str) -> None:
    from engine.persistence.postgres import PostgresCheckpointer

    source = await SQLiteCheckpointer.connect(f"sqlite://{tmp_path / 'src.db'}")
    target = await PostgresCheckpointer.connect(postgres_url, storage_mode="full")
    try:
        await _fill(source)
        assert await copy_checkpoints(source, target, ["a"]) == 7
        assert await _steps(target, "a") == await _steps(source, "a")
        assert await target.list_sessions() == ["a"]
    finally:
        await source.aclose()
        await target.aclose()


async def test_bad_lines_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"format": "weavegraph.checkpoint", "session_id": "x", "step": 0}\n')
    cp = await SQLiteCheckpointer.connect("sqlite::memory:")
    try:
        with pytest.raises(CheckpointDataError, match=r"bad\.jsonl:1.*state"):
            await import_jsonl(cp, path)
        path.write_text("not json\n")
        with pytest.raises(CheckpointDataError, match=r"bad\.jsonl:1: not JSON"):
            await import_jsonl(cp, path)
    finally:
        await cp.aclose()
