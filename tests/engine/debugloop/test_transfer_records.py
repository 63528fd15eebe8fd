"""Export/import and copying carry node records, stored events and lineage (issue 15) in both storage modes,
SQLite and Postgres, and files written before records existed still import."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from engine.cli import main
from engine.clock import MockClock
from engine.partial import NodePartial
from engine.persistence.sqlite import SQLiteCheckpointer
from engine.persistence.transfer import copy_checkpoints, export_jsonl, import_jsonl
from engine.runner import AppRunner
from engine.state import VersionedState
from tests.engine.debugloop.test_fork_replay import counting


async def _open(url: str, mode: str | None = None) -> Any:
    if url.startswith("sqlite"):
        return await SQLiteCheckpointer.connect(url, storage_mode=mode)
    from engine.persistence.postgres import PostgresCheckpointer

    return await PostgresCheckpointer.connect(url, storage_mode=mode)


async def _fill(url: str, mode: str) -> None:
    """Session "src" (records and stored events) and "kid", a fork of it at step 2 run to the end."""
    cp = await _open(url, mode)
    runner = (
        await AppRunner.builder()
        .app(counting({}))
        .checkpointer_custom(cp)
        .clock(MockClock(1_000.0))
        .persist_events(True)
        .lifecycle_events(True)
        .build()
    )
    await runner.create_session("src", VersionedState.new_with_user_message("go"))
    await runner.run_until_complete("src")
    await runner.fork_session("src", 2, "kid", update=NodePartial(extra={"n": 2}))
    await runner.run_until_complete("kid")
    await runner.aclose()
    await cp.aclose()


async def _view(url: str, sid: str) -> dict[str, Any]:
    cp = await _open(url)
    try:
        info = await cp.session_info(sid)
        steps = (await cp.query_steps(sid)).checkpoints
        return {
            "steps": sorted((c.step, c.state.extra, [str(n) for n in c.frontier]) for c in steps),
            "records": [r.to_json_value() for r in await cp.node_records(sid)],
            "events": [json.loads(e.to_json_string()) for e in await cp.events(sid)],
            "lineage": (info.parent_session, info.parent_step, info.graph_name),
        }
    finally:
        await cp.aclose()


async def _cli(*argv: str) -> None:
    """The command line in a thread (it runs its own event loop)."""
    assert await asyncio.to_thread(main, list(argv)) == 0


async def _check_same(src: str, dst: str) -> None:
    for sid in ("src", "kid"):
        before, after = await _view(src, sid), await _view(dst, sid)
        assert after == before
    before = await _view(src, "src")
    assert before["records"] and before["events"]  # there was something to carry
    assert (await _view(src, "kid"))["lineage"][:2] == ("src", 2)


@pytest.mark.parametrize(("src_mode", "dst_mode"), [("full", "compact"), ("compact", "full")])
async def test_cli_export_import_round_trip(tmp_path: Path, src_mode: str, dst_mode: str) -> None:
    src, dst = f"sqlite://{tmp_path / 'src.db'}", f"sqlite://{tmp_path / 'dst.db'}"
    await _fill(src, src_mode)
    await (await _open(dst, dst_mode)).aclose()
    for sid in ("src", "kid"):
        await _cli("export", sid, "--db", src, "-o", str(tmp_path / f"{sid}.json"))
        await _cli("import", str(tmp_path / f"{sid}.json"), "--db", dst)
    await _check_same(src, dst)
    doc = json.loads((tmp_path / "kid.json").read_text())
    assert doc["parent"] == {"session_id": "src", "step": 2} and doc["node_records"] and doc["events"]


@pytest.mark.parametrize(("src_mode", "dst_mode"), [("full", "compact"), ("compact", "full")])
async def test_jsonl_and_copy_round_trip(tmp_path: Path, src_mode: str, dst_mode: str) -> None:
    src, dst, dst2 = (f"sqlite://{tmp_path / n}" for n in ("src.db", "dst.db", "dst2.db"))
    await _fill(src, src_mode)
    source, target, target2 = await _open(src), await _open(dst, dst_mode), await _open(dst2, dst_mode)
    try:
        steps = await export_jsonl(source, tmp_path / "all.jsonl")
        assert await import_jsonl(target, tmp_path / "all.jsonl") == steps
        assert await copy_checkpoints(source, target2) == steps
    finally:
        for cp in (source, target, target2):
            await cp.aclose()
    await _check_same(src, dst)
    await _check_same(src, dst2)


@pytest.mark.postgres
async def test_round_trip_through_postgres(tmp_path: Path, postgres_url: str) -> None:
    """SQLite (full) -> CLI export -> Postgres (compact) -> CLI export -> SQLite (compact), and Postgres ->
    SQLite by copy: each hop keeps records, events and lineage."""
    src, back, copied = (f"sqlite://{tmp_path / n}" for n in ("src.db", "back.db", "copied.db"))
    await _fill(src, "full")
    for sid in ("src", "kid"):
        await _cli("export", sid, "--db", src, "-o", str(tmp_path / f"{sid}.json"))
        await _cli("import", str(tmp_path / f"{sid}.json"), "--db", postgres_url)
    await _check_same(src, postgres_url)
    for sid in ("src", "kid"):
        await _cli("export", sid, "--db", postgres_url, "-o", str(tmp_path / f"{sid}-pg.json"))
        await _cli("import", str(tmp_path / f"{sid}-pg.json"), "--db", back)
    await _check_same(src, back)
    pg, target = await _open(postgres_url), await _open(copied, "full")
    try:
        await copy_checkpoints(pg, target)
    finally:
        await pg.aclose()
        await target.aclose()
    await _check_same(src, copied)


async def test_files_from_before_records_still_import(tmp_path: Path) -> None:
    """A session document and a JSON Lines file without records, events or lineage (the format before
    issue 15) import their steps, with no records and no events."""
    src, dst, dst2 = (f"sqlite://{tmp_path / n}" for n in ("src.db", "dst.db", "dst2.db"))
    await _fill(src, "compact")
    await _cli("export", "src", "--db", src, "-o", str(tmp_path / "src.json"))
    doc = json.loads((tmp_path / "src.json").read_text())
    for key in ("node_records", "events", "parent", "graph_name"):
        del doc[key]
    (tmp_path / "old.json").write_text(json.dumps(doc))
    await _cli("import", str(tmp_path / "old.json"), "--db", dst)
    source = await _open(src)
    try:
        await export_jsonl(source, tmp_path / "all.jsonl")
    finally:
        await source.aclose()
    old_lines = []
    for line in (tmp_path / "all.jsonl").read_text().splitlines():
        value = json.loads(line)
        if value["format"] == "weavegraph.checkpoint":
            for key in ("node_records", "parent", "graph_name"):
                value.pop(key, None)
            old_lines.append(json.dumps(value))
    (tmp_path / "old.jsonl").write_text("\n".join(old_lines) + "\n")
    target = await _open(dst2)
    try:
        assert await import_jsonl(target, tmp_path / "old.jsonl") == len(old_lines)
    finally:
        await target.aclose()
    for url in (dst, dst2):
        view, before = await _view(url, "src"), await _view(src, "src")
        assert view["steps"] == before["steps"]
        assert view["records"] == [] and view["events"] == []


async def test_a_bad_record_in_an_export_names_the_place_and_writes_nothing(tmp_path: Path) -> None:
    src, dst = f"sqlite://{tmp_path / 'src.db'}", f"sqlite://{tmp_path / 'dst.db'}"
    await _fill(src, "compact")
    await _cli("export", "src", "--db", src, "-o", str(tmp_path / "src.json"))
    doc = json.loads((tmp_path / "src.json").read_text())
    del doc["node_records"][1]["status"]
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    assert await asyncio.to_thread(main, ["import", str(tmp_path / "bad.json"), "--db", dst]) == 2
    cp = await _open(dst)
    try:
        assert await cp.list_sessions() == []
    finally:
        await cp.aclose()
