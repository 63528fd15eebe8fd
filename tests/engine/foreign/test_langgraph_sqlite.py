"""The LangGraph SQLite reader on databases written by real LangGraph runs (SqliteSaver)."""

from __future__ import annotations

import asyncio
import datetime
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command

from engine.foreign.langgraph import (
    NotALangGraphDatabase,
    ThreadKey,
    ThreadNotExportable,
    ThreadQuery,
    export_thread,
    export_thread_jsonl,
    is_langgraph_database,
    open_langgraph,
    prune_langgraph,
    prune_lines,
    report_lines,
    state_json,
    vacuum_langgraph,
    versioned_state,
)
from engine.foreign.langgraph.decode import Decoder
from engine.foreign.langgraph.msgpack_spans import channel_spans
from engine.persistence.errors import InvalidCheckpointerUrl, StorageLocked, StorageNotFound
from tests.engine.foreign.conftest import snapshot
from tests.engine.foreign.lg_graphs import approval_graph, cfg, chat_graph


async def test_threads_with_namespaces_search_and_paging(lg_db: Path) -> None:
    async with await open_langgraph(lg_db) as reader:
        page = await reader.list_threads()
        ids = [t.key.thread_id for t in page.items]
        assert {"chat-1", "chat-2", "approve-waiting", "approve-done", "nested", "odd"} <= set(ids)
        subs = [t for t in page.items if t.key.checkpoint_ns]
        assert (
            len(subs) == 1
            and subs[0].key.thread_id == "nested"
            and subs[0].key.checkpoint_ns.startswith("child:")
        )
        assert page.total_count == 7
        assert [t.latest_checkpoint_id for t in page.items] == sorted(
            (t.latest_checkpoint_id for t in page.items), reverse=True
        )
        found = await reader.list_threads(
            ThreadQuery(search="APPROVE", order_by="thread_id", descending=False)
        )
        assert [t.key.thread_id for t in found.items] == ["approve-done", "approve-waiting"]
        second = await reader.list_threads(
            ThreadQuery(limit=2, offset=2, order_by="thread_id", descending=False)
        )
        assert second.total_count == 7 and len(second.items) == 2
        roots = await reader.list_threads(ThreadQuery(subgraphs=False))
        assert roots.total_count == 6
        by_size = await reader.list_threads(ThreadQuery(order_by="bytes"))
        assert by_size.items[0].key.thread_id == "chat-1" and by_size.items[0].bytes > 0


async def test_checkpoints_as_steps_and_the_fork_tree(
    lg_db: Path, lg_master: tuple[Path, dict[str, Any]]
) -> None:
    facts = lg_master[1]
    async with await open_langgraph(lg_db) as reader:
        key = ThreadKey("chat-1")
        page = await reader.list_checkpoints(key, limit=4)
        assert page.total_count == 13 and page.has_next_page and len(page.items) == 4
        newest = page.items[0]
        assert newest.checkpoint_id == facts["fork"] and newest.source == "update"
        assert newest.parent_checkpoint_id == facts["fork_parent"]["configurable"]["checkpoint_id"]
        assert {i.source for i in (await reader.list_checkpoints(key, limit=50)).items} == {
            "input",
            "loop",
            "update",
        }
        now = datetime.datetime.now(datetime.UTC)
        assert newest.created_at is not None and abs(newest.created_at - now) < datetime.timedelta(minutes=10)
        tree = await reader.checkpoint_tree(key)
        assert len(tree.nodes) == 13 and len(tree.roots) == 1
        assert len(tree.tips) == 2 and facts["fork"] in tree.tips
        assert tree.lanes[facts["fork"]] == 0  # the newest branch is lane 0
        other = next(t for t in tree.tips if t != facts["fork"])
        assert tree.lanes[other] == 1
        fork_parent = facts["fork_parent"]["configurable"]["checkpoint_id"]
        assert len(tree.children[fork_parent]) == 2
        steps_with_writes = [i for i in (await reader.list_checkpoints(key, limit=50)).items if i.writes]
        assert steps_with_writes


async def test_values_decoded_with_langgraph_serializer(lg_db: Path) -> None:
    async with await open_langgraph(lg_db) as reader:
        detail = await reader.load_checkpoint(ThreadKey("chat-2"))
        messages = detail.channels["messages"]
        assert messages.decoded and messages.type == "msgpack" and messages.size > 0
        assert [m["type"] for m in messages.value] == ["human", "ai"]
        assert messages.value[1]["content"] == "echo: hi 0"
        assert detail.channels["turns"].value == 1 and detail.format_version == 4
        state = state_json(detail)
        assert state["messages"]["items"] == [
            {"role": "user", "content": "hi 0"},
            {"role": "assistant", "content": "echo: hi 0"},
        ]
        assert state["extra"]["map"] == {"turns": 1}
        assert "branch:to:bot" not in state["extra"]["map"]


async def test_interrupt_is_a_pending_write(lg_db: Path) -> None:
    async with await open_langgraph(lg_db) as reader:
        detail = await reader.load_checkpoint(ThreadKey("approve-waiting"))
        interrupts = [w for w in detail.pending_writes if w.channel == "__interrupt__"]
        assert len(interrupts) == 1 and interrupts[0].value.decoded
        assert interrupts[0].value.value[0]["value"] == {"question": "approve refund?"}
        assert detail.info.writes == len(detail.pending_writes)


async def test_subgraph_namespace_is_a_chain(lg_db: Path) -> None:
    async with await open_langgraph(lg_db) as reader:
        sub = next(t for t in (await reader.list_threads()).items if t.key.checkpoint_ns)
        detail = await reader.load_checkpoint(sub.key)
        assert detail.channels["items"].value == ["first", "inner-a", "inner-b"]
        assert "" in detail.info.metadata["parents"]


async def test_without_the_serializer_values_are_raw_type_and_size(lg_db: Path) -> None:
    async with await open_langgraph(lg_db) as reader:
        reader.decoder = Decoder(use_serializer=False)
        detail = await reader.load_checkpoint(ThreadKey("chat-2"))
        assert not detail.channels["messages"].decoded and detail.channels["messages"].size > 0
        assert "langgraph" in (detail.channels["messages"].error or "")
        assert detail.channels["turns"].decoded and detail.channels["turns"].value == 1  # plain msgpack


async def test_opening_never_writes(lg_db: Path, tmp_path: Path) -> None:
    before = snapshot(lg_db)
    async with await open_langgraph(lg_db) as reader:
        for t in (await reader.list_threads()).items:
            await reader.list_checkpoints(t.key)
            await reader.checkpoint_tree(t.key)
            await reader.load_checkpoint(t.key)
        await reader.analytics()
        await reader.plan_prune(1)
        await export_thread(reader, ThreadKey("chat-2"))
        assert snapshot(lg_db) == before  # no -wal, no -shm while open either
    assert snapshot(lg_db) == before


async def test_a_running_langgraph_process_is_read_through_its_wal(lg_db: Path) -> None:
    conn = sqlite3.connect(lg_db, check_same_thread=False)
    try:
        chat = chat_graph(SqliteSaver(conn))
        chat.invoke({"messages": [("user", "live")]}, cfg("live"))  # leaves -wal and -shm while conn is open
        listing = snapshot(lg_db)[1]
        assert any(name.endswith("-wal") for name in listing)
        async with await open_langgraph(lg_db) as reader:
            assert "live" in [t.key.thread_id for t in (await reader.list_threads()).items]
            chat.invoke({"messages": [("user", "again")]}, cfg("live"))
            detail = await reader.load_checkpoint(ThreadKey("live"))
            assert [m["content"] for m in detail.channels["messages"].value][-1] == "echo: again"
        assert snapshot(lg_db)[1] == listing
    finally:
        conn.close()


async def test_immutable_reader_switches_when_a_writer_appears(lg_db: Path) -> None:
    async with await open_langgraph(lg_db) as reader:
        before = (await reader.list_threads()).total_count
        conn = sqlite3.connect(lg_db, check_same_thread=False)
        try:
            chat_graph(SqliteSaver(conn)).invoke({"messages": [("user", "x")]}, cfg("newcomer"))
            page = await reader.list_threads()
            assert page.total_count == before + 1
        finally:
            conn.close()


async def test_not_a_langgraph_database_is_refused_untouched(tmp_path: Path) -> None:
    cases = {"empty.db": b"", "random.db": bytes(range(256)) * 8}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (x)")
    conn.close()
    ours = tmp_path / "ours.db"
    with sqlite3.connect(ours) as conn:
        conn.execute("CREATE TABLE sessions (id)")
        conn.execute("CREATE TABLE steps (id)")
    conn.close()
    for name in ("empty.db", "random.db", "other.db", "ours.db"):
        path = tmp_path / name
        before = snapshot(path)
        with pytest.raises(NotALangGraphDatabase) as info:
            await open_langgraph(path)
        assert "\n" not in str(info.value) and str(path) in str(info.value)
        assert snapshot(path) == before
        assert not await is_langgraph_database(path)
    with pytest.raises(NotALangGraphDatabase, match="Weavegraph checkpoint database"):
        await open_langgraph(ours)
    with pytest.raises(StorageNotFound):
        await open_langgraph(tmp_path / "missing.db")


async def test_locked_database_is_one_line(lg_db: Path) -> None:
    holder = sqlite3.connect(lg_db, isolation_level=None)
    try:
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StorageLocked) as info:
            await open_langgraph(lg_db, busy_timeout=0.2)
        assert "locked" in str(info.value) and "\n" not in str(info.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


async def test_corrupt_blobs_are_undecodable_not_a_crash(lg_db: Path) -> None:
    key = ThreadKey("chat-2")
    async with await open_langgraph(lg_db) as reader:
        good = await reader.load_checkpoint(key)
    assert good.channels["messages"].decoded
    conn = sqlite3.connect(lg_db)
    blob = bytearray(
        conn.execute(
            "SELECT checkpoint FROM checkpoints WHERE checkpoint_id = ?", (good.info.checkpoint_id,)
        ).fetchone()[0]
    )
    start, end = channel_spans(bytes(blob))["messages"]
    blob[start:end] = b"\xa3\xff\xfe\xfd"  # a 3-byte string that is not UTF-8, in the messages value only
    conn.execute(
        "UPDATE checkpoints SET checkpoint = ? WHERE checkpoint_id = ?",
        (bytes(blob), good.info.checkpoint_id),
    )
    first = conn.execute(
        "SELECT checkpoint_id FROM checkpoints WHERE thread_id = 'chat-1' ORDER BY checkpoint_id LIMIT 1"
    ).fetchone()[0]
    conn.execute("UPDATE checkpoints SET checkpoint = X'DEADBEEF' WHERE checkpoint_id = ?", (first,))
    conn.execute("UPDATE writes SET value = X'C1C1' WHERE thread_id = 'approve-waiting'")
    conn.commit()
    conn.close()
    async with await open_langgraph(lg_db) as reader:
        bad = await reader.load_checkpoint(key)
        assert not bad.channels["messages"].decoded and "cannot decode" in (
            bad.channels["messages"].error or ""
        )
        assert bad.channels["messages"].size == 4
        assert bad.channels["turns"].decoded
        state = state_json(bad)
        assert state["extra"]["map"]["messages"]["$undecodable"]
        broken = await reader.load_checkpoint(ThreadKey("chat-1"), first)
        assert broken.error and not broken.channels
        waiting = await reader.load_checkpoint(ThreadKey("approve-waiting"))
        assert all(not w.value.decoded for w in waiting.pending_writes)
        report = await reader.analytics()
        assert report.checkpoints > 0
        with pytest.raises(ThreadNotExportable, match="messages"):
            await export_thread(reader, key)


async def test_analytics(lg_db: Path) -> None:
    async with await open_langgraph(lg_db) as reader:
        report = await reader.analytics(keep_last=(1, 100))
    assert report.backend == "sqlite" and report.checkpoints == 34
    assert report.file_bytes and report.file_bytes > 0 and report.wal_bytes == 0 and report.page_size
    assert report.free_bytes is not None
    assert (
        report.channels[0].channel == "messages" and report.channels[0].values > report.channels[0].distinct
    )
    assert (
        report.repeated
        and report.repeated[0].wasted > 0
        and report.repeated_bytes >= report.repeated[0].wasted
    )
    assert sum(t.checkpoints for t in report.threads) == report.checkpoints
    assert report.threads[0].key.thread_id == "chat-1"
    assert report.largest_checkpoints[0].bytes >= report.largest_checkpoints[-1].bytes
    assert "checkpoints" in report.tables
    one, hundred = report.keep_last
    assert one.keep_last == 1 and one.checkpoints > 0 and one.bytes > 0
    assert hundred.checkpoints == 0


def _load_every_checkpoint(path: Path) -> int:
    conn = sqlite3.connect(path, check_same_thread=False)
    try:
        saver = SqliteSaver(conn)
        count = 0
        for tup in list(saver.list(None)):
            loaded = saver.get_tuple(tup.config)
            assert (
                loaded is not None and loaded.checkpoint["id"] == tup.config["configurable"]["checkpoint_id"]
            )
            count += 1
        return count
    finally:
        conn.close()


async def test_prune_dry_run_then_apply_keeps_everything_loadable(lg_db: Path) -> None:
    async with await open_langgraph(lg_db) as reader:
        preview = await reader.plan_prune(2)
        before = (await reader.analytics(keep_last=())).checkpoints
    assert preview.summary.checkpoints > 0 and preview.summary.writes > 0
    applied = await prune_langgraph(lg_db, 2, vacuum=True)
    assert applied.summary == preview.summary
    remaining = _load_every_checkpoint(lg_db)
    assert remaining == before - preview.summary.checkpoints
    conn = sqlite3.connect(lg_db, check_same_thread=False)
    try:
        approval = approval_graph(SqliteSaver(conn))  # the interrupted thread still resumes after the prune
        state = approval.get_state(cfg("approve-waiting"))
        assert state.next == ("ask",) and state.tasks[0].interrupts
        final = approval.invoke(Command(resume="ok"), cfg("approve-waiting"))
        assert final["log"] == ["asked", "done: ok"]
        chat = chat_graph(SqliteSaver(conn))
        assert len(chat.get_state(cfg("chat-1")).values["messages"]) == 4
        orphans = conn.execute(
            "SELECT COUNT(*) FROM writes w WHERE NOT EXISTS (SELECT 1 FROM checkpoints c WHERE "
            "c.thread_id = w.thread_id AND c.checkpoint_ns = w.checkpoint_ns "
            "AND c.checkpoint_id = w.checkpoint_id)"
        ).fetchone()[0]
        assert orphans == 0
    finally:
        conn.close()
    assert not [p for p in lg_db.parent.iterdir() if p.name != "lg.db"]  # no -wal/-shm left by the prune


async def test_prune_keeps_a_kept_checkpoints_parent_with_pending_sends(lg_db: Path) -> None:
    conn = sqlite3.connect(lg_db)
    newest = conn.execute(
        "SELECT checkpoint_id, parent_checkpoint_id FROM checkpoints WHERE thread_id = 'chat-2' "
        "ORDER BY checkpoint_id DESC LIMIT 1"
    ).fetchone()
    conn.close()
    async with await open_langgraph(lg_db) as reader:
        nodes = await asyncio.to_thread(
            __import__("engine.foreign.langgraph.sqlite_scan", fromlist=["x"]).read_nodes_at,
            reader._scan_uri(),
            1.0,
        )
    from dataclasses import replace

    from engine.foreign.langgraph.plan import plan_prune

    old = [replace(n, format_version=3) if n.checkpoint_id == newest[0] else n for n in nodes]
    old = [replace(n, has_sends=True) if n.checkpoint_id == newest[1] else n for n in old]
    plan = plan_prune(old, 1, ["chat-2"])
    assert newest[1] not in plan.delete[ThreadKey("chat-2")]
    assert newest[1] in plan_prune(nodes, 1, ["chat-2"]).delete[ThreadKey("chat-2")]
    delta = [replace(n, delta=True) if n.key.thread_id == "chat-2" else n for n in nodes]
    assert ThreadKey("chat-2") not in plan_prune(delta, 1, ["chat-2"]).delete


async def test_export_maps_messages_and_extra_and_imports(lg_db: Path, tmp_path: Path) -> None:
    from engine.persistence.factory import open_checkpointer
    from engine.persistence.transfer import import_jsonl

    out = tmp_path / "chat.jsonl"
    async with await open_langgraph(lg_db) as reader:
        count = await export_thread_jsonl(reader, ThreadKey("chat-1"), out)
        tree = await reader.checkpoint_tree(ThreadKey("chat-1"))
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert count == len(records) and [r["step"] for r in records] == list(range(count))
    assert count < len(tree.nodes)  # one branch: the one ending at the newest checkpoint
    assert records[-1]["state"]["messages"]["items"][-1] == {"role": "user", "content": "forked"}
    target = await open_checkpointer(f"sqlite://{tmp_path / 'ours.db'}")
    try:
        assert await import_jsonl(target, out) == count
        latest = await target.load_latest("chat-1")
        assert latest is not None and latest.step == count - 1
        assert [m.role_name for m in latest.state.messages] == ["user", "assistant", "user", "user"]
        assert latest.state.extra["turns"] == 1
    finally:
        await target.aclose()


async def test_export_refuses_values_that_are_not_json(lg_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "odd.jsonl"
    async with await open_langgraph(lg_db) as reader:
        with pytest.raises(ThreadNotExportable) as info:
            await export_thread_jsonl(reader, ThreadKey("odd"), out)
    assert "channel 'tags'" in str(info.value) or "channel 'when'" in str(info.value)
    assert "not JSON" in str(info.value) and "\n" not in str(info.value)
    assert not out.exists()


async def test_text_for_the_command_line_and_versioned_state(lg_db: Path) -> None:
    async with await open_langgraph(f"sqlite://{lg_db}") as reader:
        report = await reader.analytics(keep_last=(1,))
        plan = await reader.plan_prune(1)
        state = versioned_state(await reader.load_checkpoint(ThreadKey("chat-2")))
    text = report_lines(report)
    assert text[0] == "LangGraph sqlite database: 34 checkpoints, " + f"{report.writes} pending writes"
    assert any(line.startswith("  messages: ") for line in text)
    assert text[-1].startswith("keep last 1: would remove ")
    lines = prune_lines(plan, dry_run=False)
    assert lines[0].startswith(f"keep last 1: removed {plan.summary.checkpoints} checkpoints")
    assert len(lines) == 1 + len(plan.delete)
    assert [m.role_name for m in state.messages] == ["user", "assistant"] and state.extra == {"turns": 1}


async def test_urls_that_name_no_langgraph_database(tmp_path: Path) -> None:
    for bad in ("sqlite::memory:", "sqlite://", "mysql://host/db"):
        with pytest.raises(InvalidCheckpointerUrl):
            await open_langgraph(bad)


async def test_a_path_with_uri_characters_opens_and_prunes(lg_db: Path) -> None:
    odd = lg_db.parent / "my db #1?%20.sqlite"
    lg_db.rename(odd)  # noqa: ASYNC240  # test setup
    before = snapshot(odd)
    async with await open_langgraph(odd) as reader:
        assert (await reader.list_threads()).total_count == 7
    assert snapshot(odd) == before
    plan = await prune_langgraph(odd, 1)
    assert plan.summary.checkpoints > 0 and sorted(p.name for p in odd.parent.iterdir()) == [odd.name]


async def test_vacuum_returns_free_pages(lg_db: Path) -> None:
    await prune_langgraph(lg_db, 1)
    async with await open_langgraph(lg_db) as reader:
        free = (await reader.analytics(keep_last=())).free_bytes
    assert free and free > 0
    await vacuum_langgraph(lg_db)
    async with await open_langgraph(lg_db) as reader:
        assert (await reader.analytics(keep_last=())).free_bytes == 0
    assert _load_every_checkpoint(lg_db) > 0
