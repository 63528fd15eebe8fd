"""The node-type registry: built-in node and router types, their config schemas, and entry-point plugins."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from engine.errors import NodeError
from engine.graph.builtin_routers import compare
from engine.graph.builtin_types import check_template, resolve_callable
from engine.graph.node_types import (
    ENTRY_POINT_GROUP,
    NodeTypeRegistry,
    NodeTypeSpec,
    builtin_registry,
    default_registry,
)
from engine.partial import NodePartial
from engine.state import StateSnapshot, VersionedState
from engine.types import Message, Role

PLUGIN_SRC = Path(__file__).resolve().parents[2] / "plugins" / "wg_demo_plugin"


class FakeContext:
    """Records what a node emits (the real NodeContext is exercised by the end-to-end tests)."""

    def __init__(self, node_id: str = "N", step: int = 3) -> None:
        self.node_id = node_id
        self.step = step
        self.events: list[tuple[str, Any]] = []

    def emit(self, scope: str, message: str, **metadata: Any) -> None:
        self.events.append(("emit", (scope, message)))

    def emit_llm_chunk(self, chunk: str, *, stream_id: str | None = None, metadata: Any = None) -> None:
        self.events.append(("chunk", (chunk, stream_id)))

    def emit_llm_final(self, chunk: str, *, stream_id: str | None = None, metadata: Any = None) -> None:
        self.events.append(("final", (chunk, stream_id)))


def snap(**extra: Any) -> StateSnapshot:
    return VersionedState([Message.user("hi")], extra).snapshot()


async def run_node(type_name: str, config: dict[str, Any], snapshot: StateSnapshot, ctx: FakeContext) -> Any:
    registry = builtin_registry()
    assert registry.validate_config(type_name, config) == []
    node = registry.get(type_name).factory(config)
    return await node(snapshot, ctx)


def route(type_name: str, config: dict[str, Any], **extra: Any) -> list[str]:
    registry = builtin_registry()
    assert registry.validate_config(type_name, config, "router") == []
    result: list[str] = registry.get(type_name, "router").factory(config)(snap(**extra))
    return result


def test_builtin_names_match_the_spec() -> None:
    registry = builtin_registry()
    assert registry.names("node") == [
        "accumulate",
        "ask",
        "delay",
        "emit",
        "fail",
        "message",
        "python",
        "scripted_llm",
        "set",
    ]
    assert registry.names("router") == ["python", "route_by", "route_if"]
    assert [s.name for s in registry.router_types()] == ["python", "route_by", "route_if"]


@pytest.mark.parametrize("spec", builtin_registry().node_types() + builtin_registry().router_types())
def test_every_schema_is_valid_and_documented(spec: NodeTypeSpec) -> None:
    Draft202012Validator.check_schema(dict(spec.config_schema))
    assert spec.title and spec.description
    props = spec.config_schema["properties"]
    for key, sub in props.items():
        assert sub.get("title") and sub.get("description"), f"{spec.name}.{key} needs a title and description"


def test_default_configs_fill_the_forms() -> None:
    registry = builtin_registry()
    assert registry.get("scripted_llm").default_config() == {"reply": "", "chunk_chars": 4, "delay_ms": 20}
    assert registry.get("delay").default_config() == {"ms": 100}
    assert registry.get("route_if", "router").default_config() == {"op": "==", "then": [], "else": ["End"]}
    for spec in registry.node_types():
        if spec.name != "python":
            assert registry.validate_config(spec.name, spec.default_config()) == [], spec.name


async def test_message_formats_extra_step_and_node() -> None:
    config = {"role": "assistant", "content": "tick {extra[tick]} sum {extra[sum]} at {step} in {node}"}
    out = await run_node("message", config, snap(tick=2, sum=5), FakeContext("report", 7))
    assert out == NodePartial(messages=[Message(Role.ASSISTANT, "tick 2 sum 5 at 7 in report")])


async def test_message_custom_role_and_default_role() -> None:
    out = await run_node("message", {"role": "critic", "content": "{{literal}}"}, snap(), FakeContext())
    assert out.messages == [Message("critic", "{literal}")]
    out = await run_node("message", {"content": "x"}, snap(), FakeContext())
    assert out.messages == [Message.assistant("x")]


async def test_message_missing_key_is_a_node_error_naming_it() -> None:
    with pytest.raises(NodeError, match="names missing key 'tick'"):
        await run_node("message", {"content": "tick {extra[tick]}"}, snap(), FakeContext())
    with pytest.raises(NodeError, match="template failed"):
        await run_node("message", {"content": "{extra[x]:d}"}, snap(x="text"), FakeContext())


def test_templates_cannot_reach_attributes() -> None:
    assert check_template("{extra[a]} {step} {node!r:>5}") is None
    assert check_template("{extra.__class__}") is not None
    assert check_template("{extra[a].__class__}") is not None
    assert check_template("{}") is not None
    assert check_template("{0}") is not None
    assert check_template("{") is not None


async def test_set_writes_and_deletes() -> None:
    out = await run_node("set", {"values": {"a": {"b": [1]}, "gone": None}}, snap(), FakeContext())
    assert out == NodePartial(extra={"a": {"b": [1]}, "gone": None})
    out.extra["a"]["b"].append(2)  # the node's config is not shared with its output
    again = await run_node("set", {"values": {"a": {"b": [1]}, "gone": None}}, snap(), FakeContext())
    assert again.extra["a"] == {"b": [1]}


async def test_accumulate_treats_missing_as_zero() -> None:
    config = {"key": "tick", "into": "sum"}
    assert (await run_node("accumulate", config, snap(tick=2, sum=3), FakeContext())).extra == {"sum": 5}
    assert (await run_node("accumulate", config, snap(tick=1.5), FakeContext())).extra == {"sum": 1.5}
    assert (await run_node("accumulate", config, snap(), FakeContext())).extra == {"sum": 0}
    with pytest.raises(NodeError, match="extra\\['tick'\\] is str"):
        await run_node("accumulate", config, snap(tick="x"), FakeContext())


async def test_delay_sleeps_without_blocking_the_loop() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.ensure_future(ticker())
    start = time.perf_counter()
    assert await run_node("delay", {"ms": 60}, snap(), FakeContext()) is None
    elapsed = time.perf_counter() - start
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert elapsed >= 0.055
    assert ticks >= 1  # the loop ran the ticker while the delay slept (a blocking sleep leaves it at 0)


async def test_emit_formats_its_message() -> None:
    ctx = FakeContext("E", 2)
    await run_node("emit", {"scope": "progress", "message": "at {step}: {extra[n]}"}, snap(n=4), ctx)
    assert ctx.events == [("emit", ("progress", "at 2: 4"))]


async def test_fail_raises_node_error_with_message() -> None:
    with pytest.raises(NodeError, match=r"^boom now$"):
        await run_node("fail", {"message": "boom now"}, snap(), FakeContext())
    with pytest.raises(NodeError, match=r"^boom$"):
        await run_node("fail", {}, snap(), FakeContext())


async def test_scripted_llm_streams_chunks_then_appends() -> None:
    ctx = FakeContext("llm", 1)
    out = await run_node(
        "scripted_llm", {"reply": "abcdefghij", "chunk_chars": 4, "delay_ms": 0}, snap(), ctx
    )
    assert ctx.events == [
        ("chunk", ("abcd", "llm-1")),
        ("chunk", ("efgh", "llm-1")),
        ("chunk", ("ij", "llm-1")),
        ("final", ("abcdefghij", "llm-1")),
    ]
    assert out.messages == [Message.assistant("abcdefghij")]


@pytest.mark.parametrize(
    ("op", "value", "extra", "expected"),
    [
        ("<", 3, {"count": 2}, True),
        ("<", 3, {"count": 3}, False),
        ("<=", 3, {"count": 3}, True),
        (">", 3, {"count": 4}, True),
        (">=", 3, {"count": 2}, False),
        ("==", "fast", {"count": "fast"}, True),
        ("!=", "fast", {"count": "slow"}, True),
        ("exists", None, {"count": None}, True),
        ("exists", None, {}, False),
        ("==", None, {}, False),
        ("!=", 1, {}, False),
        ("<", 3, {}, False),
        ("<", 3, {"count": "two"}, False),
        (">=", [1], {"count": {"a": 1}}, False),
    ],
)
def test_route_if_ops(op: str, value: Any, extra: dict[str, Any], expected: bool) -> None:
    config = {"key": "count", "op": op, "value": value, "then": ["A"], "else": ["B"]}
    assert route("route_if", config, **extra) == (["A"] if expected else ["B"])


def test_route_if_defaults_else_to_end() -> None:
    assert route("route_if", {"key": "k", "op": "exists", "then": ["A"]}) == ["End"]


def test_compare_rejects_unknown_ops() -> None:
    with pytest.raises(ValueError, match="unknown route_if op"):
        compare(1, "~", 2)


def test_route_by_cases_and_default() -> None:
    config = {"key": "mode", "cases": {"fast": ["A"], "slow": ["B"], "1": ["C"], "true": ["D"]}}
    assert route("route_by", config, mode="fast") == ["A"]
    assert route("route_by", config, mode="slow") == ["B"]
    assert route("route_by", config, mode=1) == ["C"]
    assert route("route_by", config, mode=True) == ["D"]
    assert route("route_by", config, mode="other") == ["End"]
    assert route("route_by", config, mode=[1]) == ["End"]
    assert route("route_by", config) == ["End"]
    assert route("route_by", {**config, "default": ["B"]}, mode="x") == ["B"]


def test_router_targets_from_config() -> None:
    registry = builtin_registry()
    route_if = registry.get("route_if", "router")
    assert route_if.targets is not None
    assert route_if.targets({"key": "k", "op": "exists", "then": ["A"]}) == ["A", "End"]
    route_by = registry.get("route_by", "router")
    assert route_by.targets is not None
    assert route_by.targets({"key": "k", "cases": {"x": ["A", "B"], "y": ["A"]}, "default": []}) == ["A", "B"]
    assert registry.get("python", "router").targets is None


def test_resolve_callable() -> None:
    assert resolve_callable("os.path:join") is __import__("os").path.join
    assert resolve_callable("engine.state:VersionedState.builder") is not None
    with pytest.raises(ValueError, match="cannot import module 'no_such_mod'"):
        resolve_callable("no_such_mod:f")
    with pytest.raises(ValueError, match="has no attribute 'nope'"):
        resolve_callable("os:nope")
    with pytest.raises(ValueError, match="not a callable"):
        resolve_callable("os:sep")
    with pytest.raises(ValueError, match="not of the form"):
        resolve_callable("os.sep")


def test_registry_rejects_duplicates_and_bad_schemas() -> None:
    registry = builtin_registry()
    spec = registry.get("fail")
    with pytest.raises(ValueError, match="already registered"):
        registry.register(spec)
    registry.register(spec, replace=True)
    bad = NodeTypeSpec("bad", "node", "Bad", "bad", {"type": "nonsense"}, lambda c: None)
    with pytest.raises(ValueError, match="invalid config schema"):
        registry.register(bad)
    with pytest.raises(KeyError, match="unknown node type 'zzz'"):
        registry.get("zzz")
    with pytest.raises(ValueError, match="kind must be"):
        registry.register(NodeTypeSpec("k", "edge", "K", "k", {}, lambda c: None))  # type: ignore[arg-type]


def test_validate_config_paths() -> None:
    registry = builtin_registry()
    assert registry.validate_config("delay", {"ms": -1}, path="$.nodes[2].config") == [
        ("$.nodes[2].config.ms", "must be at least 0, got -1")
    ]
    assert registry.validate_config(
        "route_by", {"key": "k", "cases": {"a": "A"}}, "router", path="$.conditional_edges[0].router.config"
    ) == [("$.conditional_edges[0].router.config.cases.a", "expected array, got string")]


# ---------------------------------------------------------------- entry points


@pytest.fixture
def demo_plugin(tmp_path: Path) -> Iterator[Path]:
    """Install tests/plugins/wg_demo_plugin for this test only: its source on sys.path and a dist-info
    (with one broken entry point) in a temporary folder, found by importlib.metadata."""
    dist = tmp_path / "wg_demo_plugin-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: wg-demo-plugin\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\n"
        "demo = wg_demo_plugin:SPECS\n"
        "shout = wg_demo_plugin:SHOUT\n"
        "broken = wg_demo_plugin:DOES_NOT_EXIST\n"
    )
    added = [str(tmp_path), str(PLUGIN_SRC)]
    sys.path[:0] = added
    try:
        yield tmp_path
    finally:
        for entry in added:
            sys.path.remove(entry)
        sys.modules.pop("wg_demo_plugin", None)
        default_registry(reload=True)


def test_entry_point_types_are_registered(demo_plugin: Path) -> None:
    registry = default_registry(reload=True)
    assert registry.has("shout") and registry.has("always", "router")
    assert registry.get("shout").source.startswith("entry point shout")
    assert len(registry.load_errors) == 1 and "'broken'" in registry.load_errors[0]
    assert registry.has("message"), "built-ins are still there"
    assert default_registry() is registry, "cached until reload"


async def test_entry_point_node_runs(demo_plugin: Path) -> None:
    registry = default_registry(reload=True)
    node = registry.get("shout").factory({"key": "text"})
    out = await node(snap(text="hey"), FakeContext())
    assert out == NodePartial(extra={"text": "HEY"})
    assert registry.get("always", "router").factory({"to": ["A"]})(snap()) == ["A"]


def test_without_the_plugin_types_are_unknown() -> None:
    registry = default_registry(reload=True)
    assert not registry.has("shout")
    assert registry.load_errors == []


def test_registry_from_specs() -> None:
    registry = NodeTypeRegistry(builtin_registry().node_types())
    assert registry.names("router") == []
