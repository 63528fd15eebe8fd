"""Pure parts of the LangGraph reader: msgpack spans, the prune planner's rules, ids, the public names."""

from __future__ import annotations

import datetime as _dt
import uuid

import ormsgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

import engine.foreign.langgraph as lg
from engine.foreign.langgraph.decode import checkpoint_time, parse_version
from engine.foreign.langgraph.msgpack_spans import MsgpackError, channel_spans, decode_plain, skip
from engine.foreign.langgraph.plan import Node, plan_prune
from engine.foreign.langgraph.records import ThreadKey

plain = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text()
    | st.binary(),
    lambda inner: st.lists(inner, max_size=20) | st.dictionaries(st.text(max_size=8), inner, max_size=20),
    max_leaves=60,
)  # fmt: skip


@given(plain)
def test_skip_and_decode_plain_agree_with_ormsgpack(value: object) -> None:
    data = ormsgpack.packb(value)
    assert skip(data, 0) == len(data)
    assert decode_plain(data) == value


@given(st.dictionaries(st.text(max_size=10), plain, max_size=8))
def test_channel_spans_cut_each_value(channels: dict[str, object]) -> None:
    doc = {"v": 4, "id": "x", "channel_values": channels, "channel_versions": {k: 1 for k in channels}}
    data = ormsgpack.packb(doc)
    spans = channel_spans(data)
    assert set(spans) == set(channels)
    for name, (start, end) in spans.items():
        assert ormsgpack.unpackb(data[start:end]) == channels[name]


def test_truncated_and_invalid_msgpack_raise() -> None:
    data = ormsgpack.packb({"channel_values": {"a": "x" * 100}})
    with pytest.raises(MsgpackError):
        channel_spans(data[:-10])
    with pytest.raises(MsgpackError):
        skip(b"\xc1", 0)
    with pytest.raises(MsgpackError, match="extension"):
        decode_plain(b"\xd4\x01\x00")


def test_checkpoint_time_and_versions() -> None:
    assert checkpoint_time(str(uuid.uuid4())) is None and checkpoint_time("nope") is None
    assert checkpoint_time("1f1ee1fd-1e59-6d45-8005-5eac5c227a9d") == _dt.datetime(
        2026, 12, 2, 7, 13, 5, 807904, tzinfo=_dt.UTC
    )
    assert parse_version("00000000000000000000000000000012.0.345") == 12
    assert parse_version(7) == 7 and parse_version("x") is None and parse_version(True) is None


def _chain(thread: str, ns: str, n: int, root: str | None = None, start: int = 0) -> list[Node]:
    out = []
    for i in range(start, start + n):
        parent = f"{ns}{i - 1:03d}" if i > start else None
        out.append(
            Node(ThreadKey(thread, ns), f"{ns}{i:03d}", parent, 10, writes=1, write_bytes=5, root_parent=root)
        )
    return out


def test_plan_keeps_newest_and_subgraph_calls_of_kept_roots() -> None:
    root = _chain("t", "", 5)
    kept_call = _chain("t", "child:a", 3, root="004")
    dead_call = _chain("t", "child:b", 3, root="001")
    own = _chain("t", "memory", 4)
    plan = plan_prune(root + kept_call + dead_call + own, 2)
    assert plan.delete[ThreadKey("t", "")] == ["000", "001", "002"]
    assert plan.delete[ThreadKey("t", "child:a")] == ["child:a000"]
    assert len(plan.delete[ThreadKey("t", "child:b")]) == 3
    assert plan.delete[ThreadKey("t", "memory")] == ["memory000", "memory001"]
    assert plan.summary.checkpoints == 3 + 1 + 3 + 2 and plan.summary.writes == 9
    assert plan.summary.bytes == 9 * 15 and plan.summary.threads == 1 and plan.kept == 2 + 2 + 0 + 2
    assert plan_prune(root, 2, ["other"]).summary.checkpoints == 0
    with pytest.raises(ValueError):
        plan_prune(root, 0)


def test_plan_frees_only_blobs_no_kept_checkpoint_references() -> None:
    key = ThreadKey("t")
    nodes = [
        Node(key, "1", None, 10, blob_refs=(("messages", "1"), ("x", "1"))),
        Node(key, "2", "1", 10, blob_refs=(("messages", "2"), ("x", "1"))),
    ]
    plan = plan_prune(nodes, 1, None, {(key, "messages", "1"): 100, (key, "x", "1"): 50})
    assert plan.blobs[key] == [("messages", "1")] and plan.summary.blobs == 1 and plan.summary.bytes == 110


def test_public_names_are_sorted_and_exist() -> None:
    assert lg.__all__ == sorted(lg.__all__)
    assert all(hasattr(lg, name) for name in lg.__all__)
