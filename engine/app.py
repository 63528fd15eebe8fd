"""`App`: a compiled graph, its metadata and hash, and one-call helpers that run it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import networkx as nx

from engine import __version__ as ENGINE_VERSION
from engine.graph.builder import ConditionalEdge
from engine.hashing import fnv1a_parts
from engine.joins import Joins
from engine.node import NodeInvoker
from engine.policies import NodePolicy
from engine.reducers import CHANNELS, DEFAULT_REDUCERS, Reducer
from engine.runtime_config import RuntimeConfig
from engine.state import VersionedState
from engine.types import NodeKind

if TYPE_CHECKING:
    from engine.events.event import Event
    from engine.runner import AppRunner


class GraphMetadata(dict[str, Any]):
    """Graph metadata; keys are also readable as attributes (`meta.graph_hash` or `meta["graph_hash"]`)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class App:
    """A compiled, validated graph. Build one with `GraphBuilder().compile()`."""

    def __init__(
        self,
        nodes: Mapping[NodeKind, Any],
        edges: Iterable[tuple[NodeKind, NodeKind]],
        conditional_edges: Iterable[ConditionalEdge],
        custom_reducers: Mapping[str, list[Reducer]],
        runtime_config: RuntimeConfig,
        *,
        policies: Mapping[NodeKind, NodePolicy] | None = None,
    ) -> None:
        self._nodes = dict(nodes)
        self._node_policies = dict(policies or {})
        self._edge_list = list(edges)
        self._conditional = list(conditional_edges)
        self._custom_reducers = {c: list(custom_reducers.get(c, [])) for c in CHANNELS}
        self.runtime_config = runtime_config
        # Hot-path tables, built once.
        self._invokers = {k: NodeInvoker(n) for k, n in self._nodes.items()}
        self._edge_map: dict[NodeKind, list[NodeKind]] = {}
        for src, dst in self._edge_list:
            self._edge_map.setdefault(src, []).append(dst)
        self._conditional_by_source: dict[NodeKind, list[ConditionalEdge]] = {}
        for cond in self._conditional:
            self._conditional_by_source.setdefault(cond.source, []).append(cond)
        self._reducers: dict[str, list[Reducer]] = {
            c: [DEFAULT_REDUCERS[c], *self._custom_reducers[c]] for c in CHANNELS
        }
        # Nodes run through engine.policies.run_attempts (retry or timeout), and the joins (None: no joins).
        self._policies = {k: p for k, p in self._node_policies.items() if p.runs_guarded}
        self._joins = Joins.build({k.name: p.wait_for for k, p in self._node_policies.items()})
        self._hash: str | None = None

    # ------------------------------------------------------------ structure

    def nodes(self) -> dict[NodeKind, Any]:
        """Registered nodes by kind, in registration order."""
        return dict(self._nodes)

    def node_policies(self) -> dict[NodeKind, NodePolicy]:
        """The policies given to `add_node` (retry, timeout, wait_for), for nodes that have any."""
        return dict(self._node_policies)

    def edges(self) -> dict[NodeKind, list[NodeKind]]:
        """Unconditional edges: source -> destinations in registration order."""
        return {src: list(dsts) for src, dsts in self._edge_map.items()}

    def edge_list(self) -> list[tuple[NodeKind, NodeKind]]:
        return list(self._edge_list)

    def conditional_edges(self) -> list[ConditionalEdge]:
        return list(self._conditional)

    def reducers(self) -> dict[str, list[Reducer]]:
        """Every channel's reducer chain (default first)."""
        return {c: list(r) for c, r in self._reducers.items()}

    def reducer_signature(self) -> list[str]:
        out = []
        for channel in CHANNELS:
            labels = ",".join(f"{i}:{r.definition_label()}" for i, r in enumerate(self._reducers[channel]))
            out.append(f"{channel}:[{labels}]")
        return sorted(out)

    def graph_definition_hash(self) -> str:
        if self._hash is None:
            parts = ["weavegraph-graph-v1"]
            parts += sorted(f"node:{k.encode()}" for k in self._nodes)
            parts += sorted(f"edge:{s.encode()}->{d.encode()}" for s, d in self._edge_list)
            sources = sorted(c.source.encode() for c in self._conditional)
            parts += [f"conditional:{i}:{src}" for i, src in enumerate(sources)]
            parts += [f"reducer:{sig}" for sig in self.reducer_signature()]
            self._hash = fnv1a_parts(parts)
        return self._hash

    def graph_metadata(self) -> GraphMetadata:
        return GraphMetadata(
            engine_version=ENGINE_VERSION,
            graph_hash=self.graph_definition_hash(),
            node_count=len(self._nodes),
            edge_count=len(self._edge_list),
            conditional_edge_count=len(self._conditional),
            reducer_signature=self.reducer_signature(),
        )

    def to_networkx(self) -> nx.DiGraph:
        """The graph as a DiGraph of plain names; edge attribute `kind` is "edge" or "conditional"."""
        g = nx.DiGraph()
        g.add_node("Start", kind="start")
        for k in self._nodes:
            g.add_node(k.name, kind="custom")
        g.add_node("End", kind="end")
        for src, dst in self._edge_list:
            g.add_edge(src.name, dst.name, kind="edge")
        for i, cond in enumerate(self._conditional):
            for t in cond.targets or ():
                if not g.has_edge(cond.source.name, t.name):
                    g.add_edge(cond.source.name, t.name, kind="conditional", conditional_index=i)
        return g

    # ------------------------------------------------------------ helpers

    def _session_id(self) -> str:
        return self.runtime_config.session_id or f"run-{uuid.uuid4()}"

    async def _runner(self, bus: Any) -> AppRunner:
        from engine.persistence.base import CheckpointerType
        from engine.runner import AppRunner

        builder = AppRunner.builder().app(self).event_bus(bus)
        if self.runtime_config.custom_checkpointer is not None:
            builder.checkpointer_custom(self.runtime_config.custom_checkpointer)
        else:
            builder.checkpointer(self.runtime_config.checkpointer or CheckpointerType.IN_MEMORY)
        return await builder.build()

    async def _run(self, state: VersionedState, bus: Any) -> VersionedState:
        runner = await self._runner(bus)
        try:
            session_id = self._session_id()
            await runner.create_session(session_id, state)
            return await runner.run_until_complete(session_id)
        finally:
            await runner.aclose()

    async def invoke(self, state: VersionedState) -> VersionedState:
        """Run a fresh session to completion and return the final state."""
        return await self._run(state, self.runtime_config.event_bus.build())

    def invoke_streaming(self, state: VersionedState) -> tuple[InvocationHandle, AsyncIterator[Event]]:
        """Start a run in a task; returns its handle and a stream of its events ending after stream-end."""
        from engine.runner import UntilStreamEnd

        bus = self.runtime_config.event_bus.build()
        stream = UntilStreamEnd(bus.subscribe())
        # The handle owns this task (join awaits it, cancel cancels it); the caller holds the handle.
        task = asyncio.get_running_loop().create_task(self._run(state, bus))
        return InvocationHandle(task), stream

    async def invoke_with_channel(self, state: VersionedState) -> tuple[VersionedState, asyncio.Queue[Event]]:
        """Run to completion; every event of the run is already in the returned queue."""
        from engine.events.sinks import ChannelSink

        queue: asyncio.Queue[Event] = asyncio.Queue()
        bus = self.runtime_config.event_bus.build()
        bus.add_sink(ChannelSink(queue))
        final = await self._run(state, bus)
        return final, queue

    async def invoke_with_sinks(self, state: VersionedState, sinks: Iterable[Any]) -> VersionedState:
        """Run to completion with extra sinks; returns after every sink handled every event."""
        bus = self.runtime_config.event_bus.build()
        for sink in sinks:
            bus.add_sink(sink)
        return await self._run(state, bus)

    def __repr__(self) -> str:
        return f"App(nodes={[k.name for k in self._nodes]}, hash={self.graph_definition_hash()})"


class InvocationHandle:
    """The handle of `App.invoke_streaming`: `await join()` for the final state, `cancel()` to stop."""

    def __init__(self, task: asyncio.Task[VersionedState]) -> None:
        self._task = task

    async def join(self) -> VersionedState:
        return await self._task

    def cancel(self) -> None:
        self._task.cancel()

    def done(self) -> bool:
        return self._task.done()
