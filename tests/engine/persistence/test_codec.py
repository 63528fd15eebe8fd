"""C5: one codec for checkpoints and states; bad input raises CheckpointDataError naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import StorageErrorKind
from engine.persistence.codec import (
    checkpoint_from_json,
    checkpoint_to_json,
    session_from_json,
    session_to_json,
    state_from_json,
    state_to_json,
    step_to_json,
)
from engine.persistence.errors import CheckpointDataError

from .helpers import make_cp, make_state


def test_round_trips() -> None:
    cp = make_cp("s", 4, ran=["A", "B"], graph_hash="abc")
    record = checkpoint_to_json(cp)
    assert record["format"] == "weavegraph.checkpoint" and record["ran_nodes"] == ["Custom:A", "Custom:B"]
    back = checkpoint_from_json(record)
    assert checkpoint_to_json(back) == record
    doc = session_to_json("s", "abc", [make_cp("s", 0), cp])
    assert doc["format"] == "weavegraph.session" and [s["step"] for s in doc["steps"]] == [0, 4]
    steps = session_from_json(doc, rename="t")
    assert [(c.session_id, c.step, c.graph_hash) for c in steps] == [("t", 0, "abc"), ("t", 4, "abc")]
    assert "state" not in step_to_json(cp, with_state=False)
    state = make_state(5)
    assert state_to_json(state_from_json(state_to_json(state))) == state_to_json(state)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda r: r.pop("state"), "missing field 'state'"),
        (lambda r: r.update(step="7"), "step: must be a non-negative integer"),
        (lambda r: r.update(step=-1), "step: must be a non-negative integer"),
        (lambda r: r.update(state=[]), "<record>.state"),
        (lambda r: r["state"].update(messages={"version": 1, "items": [{"role": 5}]}), "state"),
        (lambda r: r.update(frontier=[42]), "frontier"),
        (lambda r: r.update(created_at="yesterday"), "created_at"),
        (lambda r: r.update(concurrency_limit="many"), "concurrency_limit"),
        (lambda r: r.update(updated_channels="messages"), "updated_channels"),
        (lambda r: r.update(session_id=""), "session_id"),
        (lambda r: r.update(format="other"), "not a weavegraph.checkpoint record"),
    ],
)
def test_bad_records_name_the_field(mutate: Any, field: str) -> None:
    record = checkpoint_to_json(make_cp("s", 1))
    mutate(record)
    with pytest.raises(CheckpointDataError) as info:
        checkpoint_from_json(record)
    assert field in str(info.value)
    assert info.value.kind is StorageErrorKind.DATA


def test_bad_session_documents_name_the_step() -> None:
    doc = session_to_json("s", None, [make_cp("s", 0), make_cp("s", 1)])
    doc["steps"][1]["versions_seen"] = {"A": {"messages": "x"}}
    with pytest.raises(CheckpointDataError, match=r"\$\.steps\[1\]\.versions_seen"):
        session_from_json(doc)
    with pytest.raises(CheckpointDataError, match="steps: must be a list"):
        session_from_json({**doc, "steps": {}})


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=10,
    )
)
def test_any_json_either_decodes_or_raises_checkpoint_data_error(value: Any) -> None:
    for decode in (checkpoint_from_json, session_from_json, state_from_json):
        try:
            decode(value)
        except CheckpointDataError:
            pass


async def test_a_corrupt_stored_row_raises_checkpoint_data_error(tmp_path: Any) -> None:
    import sqlite3

    from engine.persistence.sqlite import SQLiteCheckpointer

    path = tmp_path / "c.db"
    cp = await SQLiteCheckpointer.connect(f"sqlite://{path}", storage_mode="compact")
    try:
        for step in range(3):
            await cp.save(make_cp("s", step))
        with sqlite3.connect(path) as conn:  # a delta row whose JSON was cut short
            conn.execute("UPDATE steps SET state_json = '{\"weavegraph_delta\": [' WHERE step = 2")
        for read in (cp.load_latest("s"), cp.query_steps("s"), cp.load_step("s", 2)):
            with pytest.raises(CheckpointDataError) as info:
                await read
            assert "c.db" in str(info.value) and info.value.kind is StorageErrorKind.DATA
    finally:
        await cp.aclose()


@pytest.mark.postgres
async def test_a_corrupt_postgres_row_raises_checkpoint_data_error(postgres_url: str) -> None:
    import asyncpg

    from engine.persistence.postgres import PostgresCheckpointer

    cp = await PostgresCheckpointer.connect(postgres_url, storage_mode="full")
    try:
        await cp.save(make_cp("s", 0))
        conn = await asyncpg.connect(postgres_url)
        try:  # valid JSONB, but not a node list
            await conn.execute("UPDATE steps SET frontier_json = '[42]'::jsonb")
        finally:
            await conn.close()
        with pytest.raises(CheckpointDataError) as info:
            await cp.query_steps("s")
        assert info.value.kind is StorageErrorKind.DATA
    finally:
        await cp.aclose()
