"""`App`: a compiled graph (`app.graph`, a frozen `CompiledGraph`) with its runtime configuration, its
metadata and hash, and the one-call helpers that run it (each builds its own `AppRunner`)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterable
from typing import Any

import networkx as nx

from engine.events.event import Event
from engine.events.sinks import ChannelSink
from engine.graph.compiled import CompiledGraph, ConditionalEdge, GraphMetadata
from engine.persistence.base import CheckpointerType
from engine.policies import NodePolicy
from engine.reducers import Reducer
from engine.reports import UntilStreamEnd
from engine.runner import AppRunner
from engine.runtime_config import RuntimeConfig
from engine.state import VersionedState
from engine.types import NodeKind

__all__ = ["App", "GraphMetadata", "InvocationHandle"]


class App:
    """A compiled, validated graph. Build one with `GraphBuilder().compile()`."""

    def __init__(self, graph: CompiledGraph, runtime_config: RuntimeConfig) -> None:
        self.graph = graph
        self.runtime_config = runtime_config

    # ------------------------------------------------------------ structure

    def nodes(self) -> dict[NodeKind, Any]:
        """Registered nodes by kind, in registration order."""
        return dict(self.graph.nodes)

    def node_policies(self) -> dict[NodeKind, NodePolicy]:
        """The policies given to `add_node` (retry, timeout, wait_for), for nodes that have any."""
        return dict(self.graph.policies)

    def edges(self) -> dict[NodeKind, list[NodeKind]]:
        """Unconditional edges: source -> destinations in registration order."""
        return {src: list(dsts) for src, dsts in self.graph.edge_map.items()}

    def edge_list(self) -> list[tuple[NodeKind, NodeKind]]:
        return list(self.graph.edges)

    def conditional_edges(self) -> list[ConditionalEdge]:
        return list(self.graph.conditional)

    def reducers(self) -> dict[str, list[Reducer]]:
        """Every channel's reducer chain (default first)."""
        return {c: list(r) for c, r in self.graph.reducers.items()}

    def reducer_signature(self) -> list[str]:
        return self.graph.reducer_signature()

    def graph_definition_hash(self) -> str:
        return self.graph.definition_hash

    def graph_metadata(self) -> GraphMetadata:
        return self.graph.metadata()

    def to_networkx(self) -> nx.DiGraph:
        """The graph as a DiGraph of plain names; edge attribute `kind` is "edge" or "conditional"."""
        return self.graph.to_networkx()

    # ------------------------------------------------------------ helpers

    def _session_id(self) -> str:
        return self.runtime_config.session_id or f"run-{uuid.uuid4()}"

    async def _runner(self, bus: Any) -> AppRunner:
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
        bus = self.runtime_config.event_bus.build()
        stream = UntilStreamEnd(bus.subscribe())
        # The handle owns this task (join awaits it, cancel cancels it); the caller holds the handle.
        task = asyncio.get_running_loop().create_task(self._run(state, bus))
        return InvocationHandle(task), stream

    async def invoke_with_channel(self, state: VersionedState) -> tuple[VersionedState, asyncio.Queue[Event]]:
        """Run to completion; every event of the run is already in the returned queue."""
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
        return f"App(nodes={[k.name for k in self.graph.nodes]}, hash={self.graph.definition_hash})"


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
