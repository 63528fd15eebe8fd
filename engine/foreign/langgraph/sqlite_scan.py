"""Synchronous whole-file work on a LangGraph SQLite database, run in a worker thread by the reader: decoding
one checkpoint, reading the prune skeleton, the analytics scan, and the prune itself (the only writer)."""

from __future__ import annotations

import hashlib
import heapq
import json
import os
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.foreign.langgraph.decode import Decoder, checkpoint_time, parse_version, to_jsonable
from engine.foreign.langgraph.errors import NotALangGraphDatabase
from engine.foreign.langgraph.msgpack_spans import MsgpackError, _map_header, _str, channel_spans, top_level
from engine.foreign.langgraph.plan import Node, PrunePlan, plan_prune
from engine.foreign.langgraph.records import (
    ChannelBytes,
    CheckpointDetail,
    CheckpointInfo,
    PendingWrite,
    RepeatedBlob,
    StorageReport,
    ThreadInfo,
    ThreadKey,
    Value,
)

TASKS = "__pregel_tasks"
CHECKPOINT_COLUMNS = {
    "thread_id",
    "checkpoint_ns",
    "checkpoint_id",
    "parent_checkpoint_id",
    "type",
    "checkpoint",
}
WRITES_COLUMNS = {"thread_id", "checkpoint_ns", "checkpoint_id", "task_id", "idx", "channel", "type", "value"}


def check_tables(conn: sqlite3.Connection | None, tables: dict[str, set[str]], path: str) -> None:
    if (
        "checkpoints" in tables
        and CHECKPOINT_COLUMNS <= tables["checkpoints"]
        and "writes" in tables
        and (WRITES_COLUMNS <= tables["writes"])
    ):
        return
    if {"sessions", "steps"} <= set(tables):
        hint = " (it is a Weavegraph checkpoint database; open it as one)"
    else:
        hint = f" (tables: {', '.join(sorted(tables)) or 'none'})"
    raise NotALangGraphDatabase(
        f"'{path}' is not a LangGraph SQLite checkpoint database: it lacks the tables 'checkpoints' and "
        f"'writes' of langgraph-checkpoint-sqlite{hint}"
    )


def file_uri(path: str, mode: str, *, immutable: bool = False) -> str:
    """A SQLite `file:` URI for `path` (absolute, percent-encoded; `file:///C:/...` on Windows)."""
    return Path(os.path.abspath(path)).as_uri() + f"?mode={mode}" + ("&immutable=1" if immutable else "")


Visitor = Callable[[str, str, str, int, "str | None", "bytes | None"], None]
DELTA_MARKERS = ("counters_since_delta_snapshot", "delta_writes_versioned")


def decode_checkpoint(
    decoder: Decoder, info: CheckpointInfo, type_: str | None, blob: bytes | None, writes: list[Any]
) -> CheckpointDetail:
    pending = [
        PendingWrite(str(task), str(path or ""), int(idx), str(channel), decoder.value(wtype, value))
        for task, path, idx, channel, wtype, value in writes
    ]
    blob = bytes(blob or b"")
    channels: dict[str, Value] = {}
    if type_ == "msgpack":
        try:
            spans = channel_spans(blob)
            head = top_level(blob, ("v", "channel_versions", "versions_seen"))
        except MsgpackError as exc:
            return CheckpointDetail(info, {}, {}, {}, pending, None, f"the checkpoint cannot be read: {exc}")
        for name, (start, end) in spans.items():
            channels[name] = decoder.value("msgpack", blob[start:end])
        versions = head.get("channel_versions")
        seen = head.get("versions_seen")
        fmt = head.get("v")
        return CheckpointDetail(
            info,
            channels,
            dict(versions) if isinstance(versions, dict) else {},
            {str(k): dict(v) for k, v in seen.items() if isinstance(v, dict)}
            if isinstance(seen, dict)
            else {},
            pending,
            fmt if isinstance(fmt, int) else None,
        )
    whole = decoder.value(type_, blob)  # older "json" checkpoints, or pickle
    if not whole.decoded or not isinstance(whole.value, dict):
        return CheckpointDetail(info, {}, {}, {}, pending, None, whole.error or "the checkpoint is not a map")
    doc = whole.value
    for name, value in dict(doc.get("channel_values") or {}).items():
        channels[str(name)] = Value(None, len(json.dumps(value, default=str)), True, to_jsonable(value))
    return CheckpointDetail(
        info,
        channels,
        dict(doc.get("channel_versions") or {}),
        {str(k): dict(v) for k, v in dict(doc.get("versions_seen") or {}).items()},
        pending,
        doc.get("v") if isinstance(doc.get("v"), int) else None,
    )


def _format_version(head: bytes | None) -> int:
    """The checkpoint's "v" from the first bytes of its msgpack map (LangGraph writes "v" first); 1 when
    it cannot be told (the planner then keeps what an old format might need)."""
    if not head:
        return 1
    try:
        _count, pos = _map_header(head, 0)
        key, pos = _str(head, pos)
    except (MsgpackError, IndexError):
        return 1
    if key == "v" and pos < len(head) and head[pos] <= 0x7F:
        return int(head[pos])
    return 1


def read_nodes(conn: sqlite3.Connection, visit: Visitor | None = None) -> list[Node]:
    """The planner's view of every checkpoint, without reading checkpoint blobs in the common case: metadata
    is read for subgraph-call namespaces (their root checkpoint) and for each chain's newest checkpoint (a
    thread whose newest checkpoint carries DeltaChannel counters counts as a delta thread); the format
    version is read only when some checkpoint's parent holds pending sends. `visit` (analytics) is called
    with (thread, namespace, id, size, type, blob) for every row of the same pass, which then reads blobs."""
    writes: dict[tuple[str, str, str], tuple[int, int, bool]] = {}
    any_sends = False
    for t, ns, cid, n, size, sends in conn.execute(
        "SELECT thread_id, checkpoint_ns, checkpoint_id, COUNT(*), SUM(COALESCE(length(value), 0)), "
        f"MAX(channel = '{TASKS}') FROM writes GROUP BY thread_id, checkpoint_ns, checkpoint_id"
    ):
        writes[(t, ns, cid)] = (int(n), int(size or 0), bool(sends))
        any_sends = any_sends or bool(sends)
    delta_threads = {
        str(t)
        for t, meta in conn.execute(
            "SELECT thread_id, CAST(metadata AS TEXT) FROM checkpoints WHERE (thread_id, checkpoint_ns, "
            "checkpoint_id) IN (SELECT thread_id, checkpoint_ns, MAX(checkpoint_id) FROM checkpoints "
            "GROUP BY thread_id, checkpoint_ns)"
        )
        if meta and any(m in meta for m in DELTA_MARKERS)
    }
    head = "CASE WHEN type = 'msgpack' THEN substr(checkpoint, 1, 8) END" if any_sends else "NULL"
    nodes: list[Node] = []
    keys: dict[tuple[str, str], ThreadKey] = {}
    none = (0, 0, False)
    blobs = ", type, checkpoint" if visit is not None else ""
    for row in conn.execute(
        "SELECT thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, "
        f"COALESCE(length(checkpoint), 0) + COALESCE(length(metadata), 0), {head}, "
        f"CASE WHEN instr(checkpoint_ns, ':') > 0 THEN CAST(metadata AS TEXT) END{blobs} FROM checkpoints"
    ):
        t, ns, cid, parent, size, first, meta = row[:7]
        if visit is not None:
            visit(t, ns, cid, size, row[7], row[8])
        n, wsize, sends = writes.get((t, ns, cid), none)
        root = None
        if meta:
            try:
                parents = json.loads(meta).get("parents") or {}
                root = parents.get("") if isinstance(parents, dict) else None
            except (ValueError, AttributeError):
                root = None
        fmt = _format_version(bytes(first)) if first is not None else (4 if not any_sends else 1)
        key = keys.get((t, ns))
        if key is None:  # one ThreadKey per chain, not per checkpoint
            key = keys[(t, ns)] = ThreadKey(t, ns)
        nodes.append(Node(key, cid, parent, size, n, wsize, fmt, sends, t in delta_threads, root))
    return nodes


def read_nodes_at(uri: str, timeout: float) -> list[Node]:
    conn = sqlite3.connect(uri, uri=True, timeout=timeout)
    try:
        return read_nodes(conn)
    finally:
        conn.close()


def analytics(
    uri: str, path: str, timeout: float, threads: list[ThreadInfo], keep_last: tuple[int, ...], top: int
) -> StorageReport:
    conn = sqlite3.connect(uri, uri=True, timeout=timeout)
    try:
        by_channel: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        copies: dict[tuple[str, bytes], list[int]] = {}  # (channel, digest) -> [copies, size]
        largest: list[tuple[int, str, str, str]] = []
        blake = hashlib.blake2b
        floor = -1

        def visit(t: str, ns: str, cid: str, size: int, type_: str | None, blob: bytes | None) -> None:
            nonlocal floor
            if top > 0 and size > floor:
                item = (size, cid, t, ns)
                if len(largest) < top:
                    heapq.heappush(largest, item)
                else:
                    heapq.heapreplace(largest, item)
                if len(largest) == top:
                    floor = largest[0][0]
            if type_ != "msgpack" or blob is None:
                return
            try:
                spans = channel_spans(blob)
            except MsgpackError:
                return
            view = memoryview(blob)
            for name, (start, end) in spans.items():
                length = end - start
                stats = by_channel[name]
                stats[0] += length
                stats[1] += 1
                ident = (name, blake(view[start:end], digest_size=12).digest())
                seen = copies.get(ident)
                if seen is None:
                    copies[ident] = [1, length]
                else:
                    seen[0] += 1

        nodes = read_nodes(conn, visit)
        distinct: Counter[str] = Counter(name for name, _ in copies)
        repeated = [
            RepeatedBlob(name, digest.hex(), size, n) for (name, digest), (n, size) in copies.items() if n > 1
        ]
        repeated.sort(key=lambda r: (-r.wasted, r.channel))
        channels = [ChannelBytes(name, s[0], s[1], distinct[name]) for name, s in by_channel.items()]
        channels.sort(key=lambda c: (-c.bytes, c.channel))
        writes_total = int(conn.execute("SELECT COUNT(*) FROM writes").fetchone()[0])
        page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        free = int(conn.execute("PRAGMA freelist_count").fetchone()[0]) * page_size
        try:
            tables = {
                str(n): int(s) for n, s in conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")
            }
        except sqlite3.DatabaseError:
            tables = {}
    finally:
        conn.close()
    infos = [
        CheckpointInfo(ThreadKey(t, ns), cid, None, None, None, checkpoint_time(cid), size, 0)
        for size, cid, t, ns in sorted(largest, reverse=True)
    ]
    wal = path + "-wal"
    return StorageReport(
        "sqlite",
        len(nodes),
        writes_total,
        sorted(threads, key=lambda t: (-t.bytes, t.key)),
        channels,
        infos,
        repeated[:top],
        sum(r.wasted for r in repeated),
        tables,
        os.path.getsize(path),
        os.path.getsize(wal) if os.path.exists(wal) else 0,
        free,
        page_size,
        [plan_prune(nodes, n).summary for n in keep_last],
    )


def apply_prune(
    path: str, keep_last: int, thread_ids: list[str] | None, vacuum: bool, timeout: float
) -> PrunePlan:
    """Keep-last-N for real: plan and delete inside one IMMEDIATE transaction (no writer can slip in between),
    then VACUUM when asked. Opens the existing file read-write (`mode=rw`: never creates one)."""

    conn = sqlite3.connect(file_uri(path, "rw"), uri=True, timeout=timeout, isolation_level=None)
    try:
        tables = {
            str(name): {str(r[1]) for r in conn.execute(f"PRAGMA table_info({name})")}
            for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        }
        check_tables(conn, tables, path)
        conn.execute("BEGIN IMMEDIATE")
        try:
            plan = plan_prune(read_nodes(conn), keep_last, thread_ids)
            conn.execute("CREATE TEMP TABLE doomed (thread_id TEXT, checkpoint_ns TEXT, checkpoint_id TEXT)")
            conn.executemany(
                "INSERT INTO temp.doomed VALUES (?, ?, ?)",
                ((k.thread_id, k.checkpoint_ns, cid) for k, ids in plan.delete.items() for cid in ids),
            )
            for table in ("writes", "checkpoints"):
                conn.execute(
                    f"DELETE FROM main.{table} WHERE (thread_id, checkpoint_ns, checkpoint_id) IN "
                    "(SELECT thread_id, checkpoint_ns, checkpoint_id FROM temp.doomed)"
                )
            conn.execute("DROP TABLE temp.doomed")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if vacuum:
            conn.execute("VACUUM")
        return plan
    finally:
        conn.close()


def vacuum(path: str, timeout: float) -> None:
    conn = sqlite3.connect(file_uri(path, "rw"), uri=True, timeout=timeout, isolation_level=None)
    try:
        conn.execute("VACUUM")
    finally:
        conn.close()


__all__ = ["analytics", "apply_prune", "decode_checkpoint", "parse_version", "read_nodes", "vacuum"]
