"""Incremental encoding: cached message texts give exactly the full encoding, and fall back when the live
message list no longer holds the cached objects (a custom reducer rewriting an earlier message)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from engine.errors import CheckpointConflict
from engine.graph.builder import GraphBuilder
from engine.partial import NodePartial
from engine.persistence.base import StepQuery
from engine.persistence.compact import LATEST_MARKER
from engine.persistence.incremental import TextCache, encode_save, update_texts
from engine.persistence.serde import dumps, state_to_json
from engine.persistence.sqlite import SQLiteCheckpointer
from engine.reducers import Reducer
from engine.runner import AppRunner
from engine.state import StateSnapshot, VersionedState
from engine.types import Message
from tests.aiosqlite_leaks import Closing
from tests.engine.persistence.helpers import make_cp


def test_cached_texts_equal_a_full_encoding() -> None:
    cache = TextCache()
    cp = make_cp("s", 0)
    state = cp.state
    for i in range(5):
        state.messages.append(Message.assistant(f'réponse {i} \u2603 "q"'))
        state.extra[f"k{i}"] = [i, 1.5, None, {"x": True}]
        enc = encode_save(cp, cache)
        assert enc.state_text() == dumps(state_to_json(state))
        assert enc.state_bytes() == len(enc.state_text().encode())
    state.messages[1] = Message.user("rewritten")  # not the cached object any more
    enc = encode_save(cp, cache)
    assert enc.state_text() == dumps(state_to_json(state))
    state.messages = []
    assert encode_save(cp, cache).state_text() == dumps(state_to_json(state))


def test_texts_grow_in_place_only_while_the_objects_are_the_same() -> None:
    messages = [Message.user("a"), Message.assistant("b")]
    first = update_texts(None, messages)
    messages.append(Message.assistant("c"))
    assert update_texts(first, messages) is first and first.joined.count("content") == 3
    equal_but_new = [Message.user("a"), *messages[1:]]
    second = update_texts(first, equal_but_new)
    assert second is not first and second.items[0] is equal_but_new[0]


class RewriteFirst(Reducer):
    """Rewrites the first message in place on every step, as a custom reducer may."""

    def apply(self, state: VersionedState, merged: NodePartial) -> None:
        state.messages[0] = Message.user(f"turn count {len(state.messages)}")


async def say(s: StateSnapshot, ctx: object) -> NodePartial:
    return NodePartial(messages=[Message.assistant(f"reply to {len(s.messages)}")])


@pytest.mark.parametrize("mode", ["compact", "full"])
async def test_a_reducer_rewriting_an_earlier_message_is_saved_exactly(
    tmp_path: Path, mode: str, closing: Closing[Any]
) -> None:
    url = f"sqlite://{tmp_path / 'r.db'}?storage={mode}&snapshot_every=4"
    app = (
        GraphBuilder()
        .add_node("A", say)
        .add_node("B", say)
        .add_edge("Start", "A")
        .add_edge("A", "B")
        .add_edge("B", "End")
        .with_reducer("messages", RewriteFirst())
        .compile()
    )
    checkpointer = await closing(SQLiteCheckpointer.connect(url))
    runner = await AppRunner.builder().app(app).checkpointer_custom(checkpointer).build()
    await runner.create_session("s", VersionedState.new_with_user_message("hi"))
    final = await runner.run_until_complete("s")
    assert final.messages[0].content.startswith("turn count")
    saved = {cp.step: cp.state for cp in (await checkpointer.query_steps("s", StepQuery())).checkpoints}
    latest = await checkpointer.load_latest("s")
    assert latest is not None and latest.state.messages == final.messages
    assert latest.state.messages_version == final.messages_version
    assert saved[max(saved)].messages == final.messages
    assert saved[1].messages[0] != final.messages[0]  # each step kept its own first message
    await runner.aclose()
    await checkpointer.aclose()
    reopened = await closing(SQLiteCheckpointer.connect(url))
    again = await reopened.load_latest("s")
    assert again is not None and again.state.messages == final.messages
    await reopened.aclose()


async def test_compact_session_rows_hold_a_marker_and_load_from_the_chain(
    tmp_path: Path, closing: Closing[Any]
) -> None:
    path = tmp_path / "m.db"
    cp = await closing(SQLiteCheckpointer.connect(f"sqlite://{path}?snapshot_every=3"))
    for step in range(8):
        await cp.save(make_cp("s", step), expected_last_step=step - 1 if step else None)
    await cp.aclose()
    conn = sqlite3.connect(path)
    (latest,) = conn.execute("SELECT last_state_json FROM sessions").fetchone()
    conn.close()
    assert latest == LATEST_MARKER and "messages" not in json.loads(latest)
    reader = await closing(
        SQLiteCheckpointer.connect(f"sqlite://{path}")
    )  # no writer cache: the chain is read
    loaded = await reader.load_latest("s")
    assert loaded is not None and loaded.state == make_cp("s", 7).state and loaded.step == 7
    await reader.aclose()


async def check_two_writers(a: Any, b: Any) -> None:
    """A writer whose known latest step was moved on by another one gets a conflict, then a snapshot."""
    for step in range(3):
        await a.save(make_cp("w", step), expected_last_step=step - 1 if step else None)
    await b.save(make_cp("w", 3, extra={"by": "b"}), expected_last_step=2)
    with pytest.raises(CheckpointConflict):
        await a.save(make_cp("w", 3), expected_last_step=2)
    await a.save(make_cp("w", 4), expected_last_step=3)  # a's delta base is stale: a full snapshot
    await b.save(make_cp("w", 5, extra={"by": "b"}))
    for reader in (a, b):
        latest = await reader.load_latest("w")
        assert latest is not None and latest.state == make_cp("w", 5, extra={"by": "b"}).state
        four = await reader.load_step("w", 4)
        assert four is not None and four.state == make_cp("w", 4).state
        three = await reader.load_step("w", 3)
        assert three is not None and three.state == make_cp("w", 3, extra={"by": "b"}).state


async def test_two_sqlite_writers(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'w.db'}"
    a, b = await SQLiteCheckpointer.connect(url), await SQLiteCheckpointer.connect(url)
    try:
        await check_two_writers(a, b)
    finally:
        await a.aclose()
        await b.aclose()


@pytest.mark.postgres
async def test_two_postgres_writers(postgres_server: Any) -> None:
    from engine.persistence.postgres import PostgresCheckpointer

    url = postgres_server.create_database()
    a, b = await PostgresCheckpointer.connect(url), await PostgresCheckpointer.connect(url)
    try:
        await check_two_writers(a, b)
    finally:
        await a.aclose()
        await b.aclose()
        postgres_server.drop_database(url)
