"""Stored events a row per run (SQLite migration 0008, Postgres 0010): databases written with a row per event
(fixtures made by fixtures/make_event_rows_fixtures.py with the engine of commit 2fcb3d1) migrate and read
back exactly what that engine read; the read path unpacks runs in order under every filter and limit; the
batch encoder gives `Event.to_json_string`'s texts."""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from engine.clock import MockClock
from engine.events.event import Event, event_json_texts
from engine.persistence.base import PrunePolicy
from engine.persistence.records_store import event_runs
from engine.persistence.schema import latest
from engine.persistence.sqlite import SQLiteCheckpointer
from engine.runner import AppRunner
from engine.state import VersionedState
from tests.engine.debugloop.test_node_records import PG, _open
from tests.engine.persistence.runner_proc import counting_app

FIXTURES = Path(__file__).resolve().parents[1] / "persistence" / "fixtures"
EXPECTED = json.loads((FIXTURES / "events_2fcb3d1.json").read_text(encoding="utf-8"))


def _json(events: list[Event]) -> list[Any]:
    return [e.to_json_value() for e in events]


def _steps(values: list[Any], lo: int | None, hi: int | None) -> list[Any]:
    """What the per-event rows' SQL step filters selected (rows without a step fail a step filter)."""
    out = []
    for v in values:
        step = v["metadata"].get("step")
        if (lo is None and hi is None) or (
            step is not None and (lo is None or step >= lo) and (hi is None or step <= hi)
        ):
            out.append(v)
    return out


async def _check_old_sessions(cp: Any, backend: str) -> None:
    """Every read the old engine answered gives the same answer after the migration."""
    for sid, values in EXPECTED[backend].items():
        assert _json(await cp.events(sid)) == values
        for lo, hi in ((2, 3), (None, 1), (3, None), (9, None)):
            assert _json(await cp.events(sid, min_step=lo, max_step=hi)) == _steps(values, lo, hi)
        for n in (0, 1, 5, len(values) + 3):
            assert _json(await cp.events(sid, limit=n)) == values[:n]
        assert _json(await cp.events(sid, min_step=1, limit=4)) == _steps(values, 1, None)[:4]


async def _more_and_prune(cp: Any, backend: str) -> None:
    """A new run on the migrated database stores runs beside the old rows; prune and delete take both."""
    runner = await (
        AppRunner.builder()
        .app(counting_app(3))
        .checkpointer_custom(cp)
        .clock(MockClock(2_000.0))
        .lifecycle_events(True)
        .persist_events(True)
        .build()
    )
    async with runner:
        await runner.create_session("gamma", VersionedState.new_with_user_message("go gamma"))
        await runner.run_until_complete("gamma")
    gamma = await cp.events("gamma")
    assert [e.seq for e in gamma] == sorted(e.seq for e in gamma) and gamma[-1].is_stream_end
    await cp.prune(PrunePolicy(keep_last=1))
    for sid in ("alpha", "beta"):
        kept = _kept(backend, sid)
        assert 0 < len(kept) < len(EXPECTED[backend][sid])
        assert _json(await cp.events(sid)) == kept
    await cp.delete_session("alpha")
    assert await cp.events("alpha") == []
    assert _json(await cp.events("beta")) == _kept(backend, "beta")


def _kept(backend: str, sid: str) -> list[Any]:
    """A session's events after `prune(keep_last=1)`: the latest step's and the unstepped ones."""
    values = EXPECTED[backend][sid]
    last = max(v["metadata"]["step"] for v in values)
    return [v for v in values if v["metadata"].get("step") in (None, last)]


async def test_sqlite_event_rows_migrate(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    shutil.copy(FIXTURES / "events_2fcb3d1.db", path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM weavegraph_schema_version").fetchall() == [(7,)]
        before = conn.execute("SELECT id, session_id, step, event_json FROM wg_events ORDER BY id").fetchall()
    assert before and all(json.loads(r[3])["type"] for r in before)  # really a row per event
    cp = await SQLiteCheckpointer.connect(f"sqlite://{path}")
    try:
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT version FROM weavegraph_schema_version").fetchall() == [
                (latest("sqlite"),)
            ]
            after = conn.execute(
                "SELECT id, session_id, step, event_json FROM wg_events ORDER BY id"
            ).fetchall()
        # each old row is now a one-event run, same id, step and event
        assert [(i, s, st) for i, s, st, _ in after] == [(i, s, st) for i, s, st, _ in before]
        assert [json.loads(r[3]) for r in after] == [[json.loads(r[3])] for r in before]
        await _check_old_sessions(cp, "sqlite")
        await _more_and_prune(cp, "sqlite")
    finally:
        await cp.aclose()
    cp = await SQLiteCheckpointer.connect(f"sqlite://{path}")  # opening again migrates nothing twice
    try:
        assert _json(await cp.events("beta")) == _kept("sqlite", "beta")
    finally:
        await cp.aclose()


@pytest.mark.postgres
async def test_postgres_event_rows_migrate(postgres_url: str) -> None:
    from engine.persistence.postgres import PostgresCheckpointer

    conn = await asyncpg.connect(postgres_url)  # the dump empties search_path: a connection of its own
    try:
        await conn.execute((FIXTURES / "pg_events_2fcb3d1.sql").read_text(encoding="utf-8"))
        assert await conn.fetchval("SELECT version FROM public.weavegraph_schema_version") == 9
        before = await conn.fetch("SELECT id, step, event_json::text FROM public.wg_events ORDER BY id")
    finally:
        await conn.close()
    assert before and all(json.loads(r[2])["type"] for r in before)
    cp = await PostgresCheckpointer.connect(postgres_url)
    try:
        conn = await asyncpg.connect(postgres_url)
        try:
            assert await conn.fetchval("SELECT version FROM weavegraph_schema_version") == latest("postgres")
            after = await conn.fetch("SELECT id, step, event_json::text FROM wg_events ORDER BY id")
        finally:
            await conn.close()
        assert [(r[0], r[1]) for r in after] == [(r[0], r[1]) for r in before]
        assert [json.loads(r[2]) for r in after] == [[json.loads(r[2])] for r in before]
        await _check_old_sessions(cp, "postgres")
        await _more_and_prune(cp, "postgres")
    finally:
        await cp.aclose()


def _event(i: int, step: int | None, **meta: Any) -> Event:
    return Event.create("node", "test", f"event {i}", step=step, metadata=meta).with_seq(i)


@pytest.mark.parametrize("kind", ["full", "compact", *PG])
async def test_runs_read_back_in_order_under_filters(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Runs of several events, unstepped runs between stepped ones, a step across two saves: every filter
    and limit gives what a row per event gave."""
    cp = await _open(kind, tmp_path, request)
    await cp.save(_checkpoint("s", 0))
    steps = [None, None, 0, 0, 1, 1, 1, None, 1, 2, 2, 3, 3, 3, 3, None]
    events = [_event(i, s, text='é\u2028"q"', x=math.nan if i == 3 else 0.1) for i, s in enumerate(steps)]
    await cp.append_events("s", events[:6])
    with_step = _checkpoint("s", 1)
    with_step.events = events[6:9]  # through the save statement (SQLite trigger, weavegraph_save)
    await cp.save(with_step)
    await cp.append_events("s", events[9:])
    values = [json.loads(e.to_json_string()) for e in events]  # NaN stored as null
    assert values[3]["metadata"]["x"] is None
    assert _json(await cp.events("s")) == values
    for lo, hi in ((None, None), (1, 1), (1, 2), (None, 0), (3, None), (4, None)):
        assert _json(await cp.events("s", min_step=lo, max_step=hi)) == _steps(values, lo, hi)
    for n in range(len(events) + 2):
        assert _json(await cp.events("s", limit=n)) == values[:n]
        assert _json(await cp.events("s", min_step=1, limit=n)) == _steps(values, 1, None)[:n]
    await cp.delete_session("s")
    await cp.aclose()


def _checkpoint(sid: str, step: int) -> Any:
    from engine.persistence.base import Checkpoint

    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return Checkpoint(sid, step, VersionedState.new_with_user_message("go"), [], {}, 2, when, [], [], [])


def test_event_runs_cut_consecutive_steps() -> None:
    steps = [None, 0, 0, 1, None, None, 1, 1, 2]
    events = [_event(i, s) for i, s in enumerate(steps)]
    got_steps, runs = event_runs(events)
    assert got_steps == [None, 0, 1, None, 1, 2]
    assert [len(json.loads(r)) for r in runs] == [1, 2, 1, 2, 2, 1]
    assert [v for r in runs for v in json.loads(r)] == _json(events)
    assert event_runs([]) == ([], [])


def test_batch_texts_are_to_json_string() -> None:
    odd = [
        _event(0, 1, x=1.5, nested={"a": [1, "é", None]}),
        _event(1, None, nan=math.nan, inf=-math.inf),  # non-finite floats: the general path, null
        _event(2, 2, text="line\u2028sep\u2029and\x85"),  # line breaks escaped
        _event(3, 3, obj=dt.date(2026, 1, 2)),  # unknown objects: strings
        Event(
            "node", "s", "m", {}, timestamp=dt.datetime(2026, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=2)))
        ),
        _event(5, 5, z="ok"),  # after the fallbacks the batch encoder still works
    ]
    assert event_json_texts(odd) == [e.to_json_string() for e in odd]
    assert all("\u2028" not in t and "\x85" not in t for t in event_json_texts(odd))
    assert [Event.from_json(t).to_json_value() for t in event_json_texts(odd)] == [
        Event.from_json(e.to_json_string()).to_json_value() for e in odd
    ]
