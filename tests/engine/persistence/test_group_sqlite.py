"""Group commit on the SQLite backend (issue 20) against real files: concurrent saves share transactions,
a conflicting save fails alone, random interleavings agree with a model (hypothesis), node records, events
and session info ride in the group's transaction, the option switches it off, compact deltas recover when
another writer moved the session, and `delete_session` takes the session's interrupts and pending writes
(issue 16) on SQLite and in memory."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import CheckpointConflict, CheckpointerError
from engine.events.event import Event
from engine.hitl_types import PendingInterrupt
from engine.node_records import NodeRecord
from engine.persistence.base import Checkpoint
from engine.persistence.memory import InMemoryCheckpointer
from engine.persistence.postgres import PostgresCheckpointer
from engine.persistence.sqlite import SQLiteCheckpointer
from engine.state import VersionedState
from engine.types import Message
from tests.engine.persistence.helpers import T0, make_cp

ROOT = Path(__file__).resolve().parents[3]


def tagged(session: str, step: int, tag: str, *, messages: int = 1) -> Checkpoint:
    """A checkpoint whose state names the save attempt (`tag`), so a load tells which attempt won."""
    state = VersionedState(
        [Message.user(f"{session} {i}") for i in range(messages)], {"tag": tag, "step": step}
    )
    return Checkpoint(session, step, state, [], {}, 1, T0 + dt.timedelta(seconds=step))


async def _blocked(cp: SQLiteCheckpointer, saves: list[tuple[Checkpoint, int | None]]) -> list[Any]:
    """Start one save, then `saves` while it is in flight: they queue and go in the next group(s)."""
    first = asyncio.create_task(cp.save(tagged("first", 0, "f")))
    await asyncio.sleep(0)  # the first group is taken (its write is in flight)
    rest = [asyncio.create_task(cp.save(c, e)) for c, e in saves]
    return list(await asyncio.gather(first, *rest, return_exceptions=True))[1:]


async def test_concurrent_saves_share_transactions_and_all_load(tmp_path: Path) -> None:
    cp = await SQLiteCheckpointer.connect(f"sqlite://{tmp_path / 'g.db'}")
    try:
        assert cp.group_commit
        results = await _blocked(cp, [(tagged(f"s{i}", 0, f"t{i}"), None) for i in range(40)])
        assert results == [None] * 40
        assert cp.committer.items == 41 and cp.committer.groups < 10, (
            cp.committer.groups,
            cp.committer.items,
        )
        for i in range(40):
            loaded = await cp.load_latest(f"s{i}")
            assert loaded is not None and loaded.state.extra["tag"] == f"t{i}"
        assert await cp.integrity_check() == "ok"
    finally:
        await cp.aclose()


@pytest.mark.parametrize("storage", ["compact", "full"])
async def test_a_conflicting_save_fails_alone_and_its_group_commits(tmp_path: Path, storage: str) -> None:
    cp = await SQLiteCheckpointer.connect(f"sqlite://{tmp_path / 'g.db'}?storage={storage}")
    try:
        for step in range(3):
            await cp.save(tagged("a", step, f"a{step}"), step - 1 if step else None)
        await cp.save(tagged("b", 0, "b0"))
        results = await _blocked(
            cp,
            [
                (tagged("a", 3, "win"), 2),
                (tagged("a", 3, "lose"), 2),  # same expectation: the first of the group wins
                (tagged("b", 5, "wrong"), 4),  # b is at 0
                (tagged("c", 0, "c0"), None),
            ],
        )
        assert results[0] is None and results[3] is None
        assert isinstance(results[1], CheckpointConflict) and results[1].actual == 3
        assert isinstance(results[2], CheckpointConflict) and (results[2].expected, results[2].actual) == (
            4,
            0,
        )
        a = await cp.load_latest("a")
        assert a is not None and (a.step, a.state.extra["tag"]) == (3, "win")
        assert [c.state.extra["tag"] for c in (await cp.query_steps("a")).checkpoints] == [
            "win",
            "a2",
            "a1",
            "a0",
        ]
        assert await cp.load_step("b", 5) is None
        assert (await cp.query_steps("b")).total_count == 1
        assert await cp.integrity_check() == "ok"
    finally:
        await cp.aclose()


async def test_records_events_and_info_ride_in_the_group(tmp_path: Path) -> None:
    cp = await SQLiteCheckpointer.connect(f"sqlite://{tmp_path / 'g.db'}")
    try:
        saves = []
        for i in range(6):
            c = tagged(f"s{i}", 0, f"t{i}")
            c.node_records = [
                NodeRecord(c.session_id, 0, f"n{j}", "done", 1, T0, 1.5 * j, {"j": j, "s": 'é"\\'}, None)
                for j in range(3)
            ]
            c.events = [Event.create("node.start", "x", f"e{j} of {i}", step=0) for j in range(2)]
            c.parent = ("origin", 7) if i % 2 else None
            c.graph_name = f"graph {i}"
            saves.append((c, None))
        assert await _blocked(cp, saves) == [None] * 6
        for i in range(6):
            records = await cp.node_records(f"s{i}")
            assert [(r.node, r.duration_ms, r.output) for r in records] == [
                (f"n{j}", 1.5 * j, {"j": j, "s": 'é"\\'}) for j in range(3)
            ]
            assert [e.message for e in await cp.events(f"s{i}")] == [f"e0 of {i}", f"e1 of {i}"]
            info = await cp.session_info(f"s{i}")
            assert info is not None and info.graph_name == f"graph {i}"
            assert (info.parent_session, info.parent_step) == (("origin", 7) if i % 2 else (None, None))
        assert [c.session_id for c in await cp.children("origin")] == ["s1", "s3", "s5"]
    finally:
        await cp.aclose()


async def test_group_commit_switches_off_by_url_or_keyword(tmp_path: Path) -> None:
    off = await SQLiteCheckpointer.connect(f"sqlite://{tmp_path / 'a.db'}?group_commit=off")
    kw = await SQLiteCheckpointer.connect(f"sqlite://{tmp_path / 'b.db'}", group_commit=False)
    try:
        assert not off.group_commit and not kw.group_commit
        await asyncio.gather(*(off.save(tagged(f"s{i}", 0, "x")) for i in range(5)))
        assert (off.committer.groups, off.committer.items) == (5, 5)
    finally:
        await off.aclose()
        await kw.aclose()
    with pytest.raises(CheckpointerError, match="group_commit must be on or off"):
        await SQLiteCheckpointer.connect(f"sqlite://{tmp_path / 'c.db'}?group_commit=maybe")
    with pytest.raises(CheckpointerError, match="synchronous must be"):
        await SQLiteCheckpointer.connect(f"sqlite://{tmp_path / 'c.db'}?synchronous=extra")
    full = await SQLiteCheckpointer.connect(f"sqlite://{tmp_path / 'd.db'}?synchronous=full")
    try:
        assert full.synchronous == "full"
        assert [tuple(r) for r in await full._db.execute_fetchall("PRAGMA synchronous")] == [(2,)]
    finally:
        await full.aclose()


async def test_compact_delta_recovers_when_another_writer_moved_the_session(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'c.db'}?storage=compact"
    one = await SQLiteCheckpointer.connect(url)
    two = await SQLiteCheckpointer.connect(url)
    try:
        await one.save(tagged("s", 0, "one0", messages=3))
        await one.save(tagged("s", 1, "one1", messages=4), 0)  # a delta from step 0
        await two.save(tagged("s", 2, "two2", messages=5), 1)  # moves the row: one's base is stale
        await one.save(tagged("s", 3, "one3", messages=6))  # refused as a delta, saved again in full
        for step, tag in enumerate(["one0", "one1", "two2", "one3"]):
            loaded = await two.load_step("s", step)
            assert loaded is not None and loaded.state.extra["tag"] == tag
            assert len(loaded.state.messages) == step + 3
        # Overwriting a step that others are deltas of: those become full snapshots first.
        await one.save(tagged("s", 4, "one4", messages=7))  # a delta of step 3
        await two.save(tagged("s", 3, "again", messages=2))  # stale base, and step 4 depends on 3
        await one.save(tagged("s", 5, "one5", messages=8))  # a delta of step 4
        await one.save(tagged("s", 4, "over4", messages=1))  # a full state, but step 5 depends on 4
        for step, tag, count in [(3, "again", 2), (4, "over4", 1), (5, "one5", 8)]:
            loaded = await two.load_step("s", step)
            assert loaded is not None and (loaded.state.extra["tag"], len(loaded.state.messages)) == (
                tag,
                count,
            )
        latest = await two.load_latest("s")
        assert latest is not None and latest.state.extra["tag"] == "one5"
        assert await one.integrity_check() == "ok"
    finally:
        await one.aclose()
        await two.aclose()


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgres"])
async def test_delete_session_takes_its_interrupts_and_pending_writes(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    cp: Any
    if kind == "memory":
        cp = InMemoryCheckpointer()
    elif kind == "sqlite":
        cp = await SQLiteCheckpointer.connect(f"sqlite://{tmp_path / 'i.db'}")
    else:
        cp = await PostgresCheckpointer.connect(request.getfixturevalue("postgres_url"))
    try:
        for sid in ("gone", "kept"):
            await cp.save(make_cp(sid, 0))
            store = cp.interrupt_store()
            interrupt = PendingInterrupt(f"{sid}-1", sid, 1, "ask", 0, {"q": sid}, None, T0)
            await store.save_paused(sid, 1, {"done": {"x": 1}}, [interrupt])
        await cp.delete_session("gone")
        store = cp.interrupt_store()
        assert await store.session_interrupts("gone", 0) == []
        assert await store.pending_writes("gone", 1) == {}
        assert [i.id for i in await cp.list_interrupts(pending=False)] == ["kept-1"]
        assert await store.pending_writes("kept", 1) == {"done": {"x": 1}}
    finally:
        await cp.aclose()


# ---------------------------------------------------------------- random interleavings against a model

Op = tuple[int, str, int]  # session index, "good" / "dup" / "bad", yields before submitting


ops_strategy = st.lists(
    st.lists(
        st.tuples(st.integers(0, 5), st.sampled_from(["good", "good", "dup", "bad"]), st.integers(0, 3)),
        min_size=1,
        max_size=12,
    ),
    min_size=1,
    max_size=5,
)


async def _play(rounds: list[list[Op]], url: str) -> None:
    cp = await SQLiteCheckpointer.connect(url)
    latest: dict[int, int] = {}  # the model: each session's latest step
    winners: dict[tuple[int, int], str] = {}  # (session, step) -> tag of the save that returned
    losers: list[tuple[int, int, str]] = []
    counter = 0
    try:
        for session in range(6):  # created first: every save below checks its expected step
            await cp.save(tagged(f"s{session}", 0, f"init{session}", messages=0))
            latest[session], winners[(session, 0)] = 0, f"init{session}"
        for ops in rounds:
            tasks: list[tuple[Op, str, int, asyncio.Task[None]]] = []

            async def submit(cp_: Checkpoint, expected: int | None, yields: int) -> None:
                for _ in range(yields):
                    await asyncio.sleep(0)
                await cp.save(cp_, expected)

            for op in ops:
                session, kind, yields = op
                counter += 1
                tag = f"t{counter}"
                current = latest[session]
                step = current + 1
                expected = current if kind != "bad" else current + 7
                cp_ = tagged(f"s{session}", step, tag, messages=step % 4)
                task = asyncio.create_task(submit(cp_, expected, yields))
                tasks.append((op, tag, step, task))
            await asyncio.gather(*(t for *_, t in tasks), return_exceptions=True)
            won: dict[int, list[str]] = {}
            for (session, kind, _), tag, step, task in tasks:
                exc = task.exception()
                if kind == "bad":
                    assert isinstance(exc, CheckpointConflict), (kind, exc)
                if exc is None:
                    won.setdefault(session, []).append(tag)
                    winners[(session, step)] = tag
                else:
                    assert isinstance(exc, CheckpointConflict), exc
                    losers.append((session, step, tag))
            for session, tags in won.items():
                assert len(tags) == 1, tags  # one save per expected step can pass the check
                latest[session] += 1
        for session, last in latest.items():
            page = await cp.query_steps(f"s{session}")
            assert [c.step for c in page.checkpoints] == list(range(last, -1, -1))  # contiguous
            for c in page.checkpoints:
                assert c.state.extra["tag"] == winners[(session, c.step)]
                assert len(c.state.messages) == c.step % 4
            loaded = await cp.load_latest(f"s{session}")
            assert loaded is not None and loaded.step == last
        stored = {
            c.state.extra["tag"]
            for session in latest
            for c in (await cp.query_steps(f"s{session}")).checkpoints
        }
        assert not stored & {tag for *_, tag in losers}  # every failed save is absent
        for session, step, _ in losers:
            if (session, step) not in winners:
                assert await cp.load_step(f"s{session}", step) is None
    finally:
        await cp.aclose()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rounds=ops_strategy, storage=st.sampled_from(["compact", "full"]))
def test_random_interleavings_agree_with_the_model(rounds: list[list[Op]], storage: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite://{Path(folder) / 'h.db'}?storage={storage}&snapshot_every=3"
        asyncio.run(_play(rounds, url))


def test_no_private_aiosqlite_attribute_in_the_engine() -> None:
    """Issue 13: SQLite through aiosqlite's public API only."""
    private = re.compile(r"\._execute\(|db\._conn\b|self\._call\(|\._raw\b")
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in sorted((ROOT / "engine").rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if private.search(line)
    ]
    assert found == []
