"""Compact storage: deltas with a snapshot every K steps load exactly what full storage loads."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import itertools
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import CheckpointerError
from engine.persistence.base import Checkpoint, PrunePolicy, StepQuery
from engine.persistence.compact import apply_delta, make_delta, same
from engine.persistence.sqlite import SQLiteCheckpointer
from engine.state import VersionedState
from engine.types import ErrorEvent, ErrorScope, Message, NodeKind, WeaveError
from tests.aiosqlite_leaks import Closing
from tests.engine.persistence.helpers import T0, make_cp

# PostgreSQL's JSONB cannot hold NUL characters (a clear CheckpointDataError, tested elsewhere).
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=5)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)
KEYS = st.sampled_from(["a", "b", "c", "d", "e"])
MUTATION = st.one_of(
    st.tuples(st.just("append"), TEXT),
    st.tuples(st.just("replace"), st.lists(TEXT, max_size=3)),
    st.tuples(st.just("set"), KEYS, JSON_VALUES),
    st.tuples(st.just("del"), KEYS),
    st.tuples(st.just("move"), KEYS),
    st.tuples(st.just("error"), TEXT, JSON_VALUES),
    st.tuples(st.just("clear_errors")),
)
STEP = st.one_of(
    st.tuples(st.just("step"), st.lists(MUTATION, max_size=4)),
    st.tuples(st.just("overwrite"), st.integers(0, 30), st.lists(MUTATION, min_size=1, max_size=2)),
    st.tuples(st.just("prune"), st.integers(1, 4)),
)


def mutate(state: VersionedState, mutations: list[Any], step: int) -> VersionedState:
    state = state.copy()
    state.messages = list(state.messages)
    state.errors = list(state.errors)
    for m in mutations:
        if m[0] == "append":
            state.messages.append(Message.assistant(m[1]))
            state.messages_version += 1
        elif m[0] == "replace":
            state.messages = [Message.user(t) for t in m[1]]
            state.messages_version += 1
        elif m[0] == "set":
            state.extra[m[1]] = m[2]
            state.extra_version += 1
        elif m[0] == "del":
            state.extra.pop(m[1], None)
        elif m[0] == "move" and m[1] in state.extra:
            state.extra[m[1]] = state.extra.pop(m[1])  # same value, key moved to the end
        elif m[0] == "error":
            scope = ErrorScope.for_node("A", step)
            state.errors.append(ErrorEvent(T0, scope, WeaveError(m[1], details=m[2]), ["node"], {"k": m[2]}))
        elif m[0] == "clear_errors":
            state.errors = []
    return state


def checkpoint(step: int, state: VersionedState, sid: str = "p") -> Checkpoint:
    return Checkpoint(
        sid, step, state, [NodeKind.custom("A")], {"A": {"messages": step}}, 2, T0, [NodeKind.custom("A")]
    )


def fingerprint(cp: Checkpoint | None, jsonb: bool = False) -> Any:
    if cp is None:
        return None
    s = cp.state
    return (
        cp.step,
        [m.to_json_value() for m in s.messages],
        # Exact JSON types, and key order too except in JSONB, which orders keys itself.
        json.dumps(s.extra, sort_keys=jsonb),
        [e.to_json_value() for e in s.errors],
        (s.messages_version, s.extra_version, s.errors_version),
        cp.frontier,
        cp.ran_nodes,
    )


async def run_both(
    script: list[Any], snapshot_every: int, urls: tuple[str, str] | None = None, sid: str = "p"
) -> None:
    """Replay `script` on a full and a compact database and compare every step (Postgres when `urls`)."""
    if urls is None:
        full: Any = await SQLiteCheckpointer.connect("sqlite::memory:", storage_mode="full")
        compact: Any = await SQLiteCheckpointer.connect("sqlite::memory:", snapshot_every=snapshot_every)
    else:
        from engine.persistence.postgres import PostgresCheckpointer

        full = await PostgresCheckpointer.connect(urls[0], storage_mode="full")
        compact = await PostgresCheckpointer.connect(urls[1], snapshot_every=snapshot_every)
    assert (full.storage_mode, compact.storage_mode) == ("full", "compact")
    try:
        states = [VersionedState.new_with_user_message("hi")]
        for cp in (full, compact):
            await cp.save(checkpoint(0, states[0], sid))
        for op in script:
            if op[0] == "step":
                states.append(mutate(states[-1], op[1], len(states)))
                for cp in (full, compact):
                    await cp.save(
                        checkpoint(len(states) - 1, states[-1], sid), expected_last_step=len(states) - 2
                    )
            elif op[0] == "overwrite":
                step = op[1] % len(states)
                changed = mutate(states[step], op[2], step)
                for cp in (full, compact):
                    await cp.save(checkpoint(step, changed, sid))
            else:
                policy = PrunePolicy(keep_last=op[1], session_ids=[sid])
                reports = [await cp.prune(policy) for cp in (full, compact)]
                assert reports[0].steps == reports[1].steps
        for step in range(len(states)):
            assert fingerprint(await compact.load_step("p", step)) == fingerprint(
                await full.load_step("p", step)
            )
        assert fingerprint(await compact.load_latest("p")) == fingerprint(await full.load_latest("p"))
        for offset in (0, 3):
            pages = [await cp.query_steps("p", StepQuery(limit=4, offset=offset)) for cp in (full, compact)]
            assert [fingerprint(c) for c in pages[0].checkpoints] == [
                fingerprint(c) for c in pages[1].checkpoints
            ]
    finally:
        await full.aclose()
        await compact.aclose()


def run_in_thread(coro_factory: Any) -> None:
    """Each example gets its own event loop, away from the test's."""
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            asyncio.run(coro_factory())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=st.lists(STEP, max_size=25), snapshot_every=st.integers(1, 5))
def test_compact_loads_exactly_what_full_loads(script: list[Any], snapshot_every: int) -> None:
    run_in_thread(lambda: run_both(script, snapshot_every))


@pytest.mark.postgres
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(script=st.lists(STEP, max_size=15), snapshot_every=st.integers(1, 4))
def test_compact_loads_exactly_what_full_loads_on_postgres(
    script: list[Any], snapshot_every: int, postgres_pair: tuple[str, str]
) -> None:
    sid = f"p{next(_EXAMPLES)}"
    run_in_thread(lambda: run_both(script, snapshot_every, postgres_pair, sid))


_EXAMPLES = itertools.count()


@pytest.fixture(scope="module")
def postgres_pair(postgres_server: Any) -> Any:
    urls = (postgres_server.create_database(), postgres_server.create_database())
    yield urls
    for url in urls:
        postgres_server.drop_database(url)


def test_strict_json_equality() -> None:
    assert not same(1, True) and not same(1, 1.0) and not same(0.0, -0.0)
    assert same({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]})
    parent = {"messages": {"version": 1, "items": []}, "extra": {"version": 1, "map": {"x": 1, "y": 2}},
              "errors": {"version": 1, "items": []}}  # fmt: skip
    state = {"messages": {"version": 1, "items": []}, "extra": {"version": 2, "map": {"x": True, "y": 2}},
             "errors": {"version": 1, "items": []}}  # fmt: skip
    delta = make_delta(parent, state)
    assert delta["extra"] == {"version": 2, "set": {"x": True}}
    assert json.dumps(apply_delta(parent, delta)) == json.dumps(state)


async def test_new_databases_are_compact_and_record_it(tmp_path: Path, closing: Closing[Any]) -> None:
    path = tmp_path / "c.db"
    cp = await closing(SQLiteCheckpointer.connect(f"sqlite://{path}?snapshot_every=4"))
    assert (cp.storage_mode, cp.snapshot_every) == ("compact", 4)
    for step in range(10):
        await cp.save(make_cp("s", step))
    stats = await cp.storage_stats()
    assert stats.storage_mode == "compact" and stats.snapshot_every == 4
    await cp.aclose()
    conn = sqlite3.connect(path)
    parents = conn.execute("SELECT step, parent_step FROM steps ORDER BY step").fetchall()
    conn.close()
    assert [p for _, p in parents] == [None, 0, 1, 2, None, 4, 5, 6, None, 8]  # a snapshot every 4 steps
    again = await closing(SQLiteCheckpointer.connect(f"sqlite://{path}"))
    assert again.storage_mode == "compact"
    assert (await again.load_step("s", 7)).state == make_cp("s", 7).state
    await again.aclose()
    with pytest.raises(CheckpointerError, match="compact mode"):
        await SQLiteCheckpointer.connect(f"sqlite://{path}?storage=full")


async def test_full_mode_keeps_weavegraph_rows(tmp_path: Path, closing: Closing[Any]) -> None:
    cp = await closing(SQLiteCheckpointer.connect(f"sqlite://{tmp_path / 'f.db'}", storage_mode="full"))
    for step in range(3):
        await cp.save(make_cp("s", step))
    await cp.aclose()
    conn = sqlite3.connect(tmp_path / "f.db")
    rows = conn.execute("SELECT state_json FROM steps ORDER BY step").fetchall()
    conn.close()
    assert all("messages" in json.loads(r[0]) for r in rows)


async def test_prune_keeps_the_chain_kept_steps_need(tmp_path: Path, closing: Closing[Any]) -> None:
    cp = await closing(SQLiteCheckpointer.connect(f"sqlite://{tmp_path / 'p.db'}", snapshot_every=100))
    for step in range(12):
        await cp.save(make_cp("s", step))
    before = await cp.storage_stats()
    dry = await cp.prune(PrunePolicy(keep_last=3), dry_run=True)
    real = await cp.prune(PrunePolicy(keep_last=3))
    after = await cp.storage_stats()
    assert (dry.steps, dry.bytes) == (real.steps, real.bytes) == (9, before.total_bytes - after.total_bytes)
    for step in (9, 10, 11):
        assert (await cp.load_step("s", step)).state == make_cp("s", step).state
    await cp.aclose()


async def test_compact_is_much_smaller_for_growing_message_lists(
    tmp_path: Path, closing: Closing[Any]
) -> None:
    sizes = {}
    for mode in ("full", "compact"):
        cp = await closing(SQLiteCheckpointer.connect(f"sqlite://{tmp_path / mode}.db", storage_mode=mode))
        state = VersionedState.new_with_user_message("hi")
        for step in range(300):
            state = mutate(state, [("append", "x" * 40)], step)
            await cp.save(dataclasses.replace(make_cp("s", 0), step=step, state=state))
        sizes[mode] = (await cp.storage_stats()).total_bytes
        await cp.aclose()
    assert sizes["compact"] * 8 < sizes["full"]


async def test_resume_after_reopen_starts_with_a_snapshot(tmp_path: Path, closing: Closing[Any]) -> None:
    url = f"sqlite://{tmp_path / 'r.db'}"
    cp = await closing(SQLiteCheckpointer.connect(url))
    await cp.save(make_cp("s", 0))
    await cp.save(make_cp("s", 1), expected_last_step=0)
    await cp.aclose()
    other = await closing(SQLiteCheckpointer.connect(url))
    await other.save(make_cp("s", 2, when=T0 + dt.timedelta(hours=1)), expected_last_step=1)
    assert (await other.load_step("s", 2)).state == make_cp("s", 2).state
    await other.aclose()


async def test_environment_sets_the_mode_of_new_databases_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, closing: Closing[Any]
) -> None:
    old = await closing(SQLiteCheckpointer.connect(f"sqlite://{tmp_path / 'old.db'}"))
    await old.aclose()
    monkeypatch.setenv("WEAVEGRAPH_STORAGE_MODE", "full")
    new = await SQLiteCheckpointer.connect(f"sqlite://{tmp_path / 'new.db'}")
    reopened = await SQLiteCheckpointer.connect(f"sqlite://{tmp_path / 'old.db'}")
    try:
        assert (new.storage_mode, reopened.storage_mode) == ("full", "compact")
    finally:
        await new.aclose()
        await reopened.aclose()
