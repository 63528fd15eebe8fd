"""Stored events in the compact form (SQLite migration 0009, `engine.events.stored`): a run read back gives
exactly the events the object form gives (`Event.from_json` of `to_json_string`, metadata order included),
for the usual events and every odd one; a runner's stored events on SQLite equal what it published, as
on Postgres (which keeps the object form); a database written in the compact form (fixture made by
fixtures/make_compact_events_fixture.py) reads back what it read when it was made."""

from __future__ import annotations

import datetime as dt
import json
import math
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from engine.events.bus import EventBus
from engine.events.event import Event, event_json_texts, lifecycle_event
from engine.events.sinks import MemorySink
from engine.events.stored import decode_run, encode_run
from engine.persistence.sqlite import SQLiteCheckpointer
from engine.runner import AppRunner
from engine.state import VersionedState
from tests.engine.debugloop.test_node_records import PG, _open
from tests.engine.persistence.runner_proc import counting_app

FIXTURES = Path(__file__).resolve().parents[1] / "persistence" / "fixtures"
UTC = dt.UTC
PLUS_2 = dt.timezone(dt.timedelta(hours=2))


def _object_form(events: list[Event]) -> list[Event]:
    """What a row of object-form events reads back as (the engine before migration 0009)."""
    return [Event.from_json(t) for t in event_json_texts(events)]


def _same(got: list[Event], want: list[Event]) -> None:
    assert got == want
    assert [e.to_json_string() for e in got] == [e.to_json_string() for e in want]  # key order too


def _stamped(e: Event, seq: int) -> Event:
    return e.with_seq(seq)


def _odd_run(sid: str) -> list[Event]:
    """Events of step 2 of session `sid`: the usual ones and every case the compact form must not strip."""
    t0 = dt.datetime(2026, 12, 2, 18, 0, 0, tzinfo=UTC)
    usual = lifecycle_event("node.finish", "a finished", {"duration_ms": 0.5}, "a", 2, sid, None)
    events = [
        usual,
        lifecycle_event("step.start", "step 2", {"frontier": ["a"]}, None, 2, sid, None),
        # only the two structured keys: stripped to {}
        Event.create("diagnostic", "d", "only keys", step=2, invocation_id=sid),
        # the injected clock's key after them: metadata kept whole
        lifecycle_event("node.start", "clocked", {}, "a", 2, sid, 1_796_000_000_123),
        # the user's own "step" key first: its position must survive
        Event.create("node", "n", "user step first", step=2, invocation_id=sid, metadata={"step": 2, "x": 1}),
        # a key whose text ends like the structured keys
        Event("node", "n", "lookalike", {"step": 2, 'x"step': 2, "invocation_id": sid}, step=2),
        # another session's event stored under this one (an import), a type of its own, odd text
        Event.create("custom", "c", 'é \u2028 \x85 "q" \\', step=2, invocation_id="other"),
        Event.create("llm", "chunk", "tok", step=2, invocation_id=sid, metadata={"obj": dt.date(2026, 1, 2)}),
        # a timestamp without microseconds, one going backwards, one not in UTC
        Event.create("node", "n", "whole second", step=2, invocation_id=sid, timestamp=t0),
        Event.create(
            "node", "n", "earlier", step=2, invocation_id=sid, timestamp=t0 - dt.timedelta(days=400)
        ),
        Event.create(
            "node",
            "n",
            "+02:00",
            step=2,
            invocation_id=sid,
            timestamp=t0.astimezone(dt.timezone(dt.timedelta(hours=2))),
        ),
        usual,  # stamped again below: a copy with its own seq
    ]
    return [_stamped(e, 100 + i) for i, e in enumerate(events)]


def test_compact_run_reads_back_the_object_form() -> None:
    for sid in ("s", "run-0b8f5c1e-7c1d-4d43-9f58-2a9f7d1c3e55", 'q"uote\u2028'):
        run = _odd_run(sid)
        text = encode_run(run, sid)
        assert "\u2028" not in text and "\x85" not in text
        items = json.loads(text)
        assert items[0][5] == {"duration_ms": 0.5, "node_id": "a"}  # step and session id left out
        assert items[2][5] == {} and len(items[3]) == 7 and len(items[4]) == 7 and len(items[5]) == 7
        assert isinstance(items[10], dict)  # not in UTC: the object form
        _same(decode_run(text, 2, sid), _object_form(run))
        assert len(text) < 0.75 * len(",".join(event_json_texts(run)))


def test_unstepped_and_unencodable_runs() -> None:
    unstepped = [_stamped(Event.create("node", "n", f"e{i}", invocation_id="s"), i) for i in range(3)]
    _same(decode_run(encode_run(unstepped, "s"), None, "s"), _object_form(unstepped))
    nan = [
        _stamped(Event.create("node", "n", "fine", step=1, invocation_id="s"), 0),
        _stamped(Event.create("node", "n", "nan", step=1, invocation_id="s", metadata={"x": math.nan}), 1),
    ]
    text = encode_run(nan, "s")
    assert all(isinstance(v, dict) for v in json.loads(text))  # the object form for the whole run
    _same(decode_run(text, 1, "s"), _object_form(nan))
    assert decode_run(text, 1, "s")[1].metadata["x"] is None


async def _published_and_stored(cp: Any, sid: str) -> tuple[list[Event], list[Event]]:
    sink = MemorySink()
    builder = (
        AppRunner.builder()
        .app(counting_app(3))
        .checkpointer_custom(cp)
        .lifecycle_events(True)
        .persist_events(True)
        .event_bus(EventBus.with_sinks([sink]))
    )
    async with await builder.build() as runner:
        await runner.create_session(sid, VersionedState.new_with_user_message("go"))
        await runner.run_until_complete(sid)
    published = [e for e in sink.snapshot() if e.metadata.get("invocation_id") == sid]
    return _object_form(published), await cp.events(sid)


@pytest.mark.parametrize("kind", ["full", "compact", *PG])
async def test_runner_events_read_back_as_published(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A run without an injected clock (the stripped form on SQLite): what `events()` returns is what the
    object form returned, on SQLite key order included; Postgres (object form in JSONB) as values."""
    cp = await _open(kind, tmp_path, request)
    sid = "run-0b8f5c1e-7c1d-4d43-9f58-2a9f7d1c3e55"
    try:
        want, got = await _published_and_stored(cp, sid)
        assert got == want and len(got) > 20
        if not kind.startswith("pg_"):
            _same(got, want)
            rows = sqlite3.connect(tmp_path / "r.db").execute("SELECT event_json FROM wg_events").fetchall()
            assert all(isinstance(v, list) and len(v) == 6 for (r,) in rows for v in json.loads(r))
            for lo, hi, n in ((1, 2, None), (2, None, 3), (None, 1, 100), (None, None, 0)):
                assert (
                    await cp.events(sid, min_step=lo, max_step=hi, limit=n)
                    == [e for e in want if (lo is None or e.step >= lo) and (hi is None or e.step <= hi)][:n]
                )
        await cp.delete_session(sid)
    finally:
        await cp.aclose()


async def test_compact_fixture_reads_back(tmp_path: Path) -> None:
    """A file written in the compact form keeps reading back what it read when it was made."""
    expected = json.loads((FIXTURES / "events_compact_v9.json").read_text(encoding="utf-8"))
    path = tmp_path / "compact.db"
    shutil.copy(FIXTURES / "events_compact_v9.db", path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM weavegraph_schema_version").fetchall() == [(9,)]
        rows = conn.execute("SELECT event_json FROM wg_events").fetchall()
    forms = {type(v).__name__ + str(len(v)) for (r,) in rows for v in json.loads(r)}
    assert {"list6", "list7"} <= forms  # both compact shapes (and object-form fallbacks) are in the file
    cp = await SQLiteCheckpointer.connect(f"sqlite://{path}")
    try:
        for sid, texts in expected.items():
            assert [e.to_json_string() for e in await cp.events(sid)] == texts
            assert [e.to_json_string() for e in await cp.events(sid, min_step=2, limit=5)] == [
                t for t in texts if (json.loads(t)["metadata"].get("step") or -1) >= 2
            ][:5]
    finally:
        await cp.aclose()
