"""Nodes: the context a node runs with, and how any node callable is invoked."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable
from typing import Any, Protocol

from engine.clock import Clock
from engine.errors import InvalidNode
from engine.events.event import Event
from engine.hitl_types import InvalidInterruptSchema, NodeInterrupted
from engine.partial import NodePartial
from engine.state import StateSnapshot
from engine.types import JSON


class Node(Protocol):
    """A node: `node(snapshot, ctx)` or an object with `run(snapshot, ctx)`, sync or async."""

    def __call__(self, snapshot: StateSnapshot, ctx: NodeContext) -> Any: ...


Publish = Callable[[Event], object]


class NodeContext:
    """What a node knows about its run and how it emits events; emitting never fails for lack of listeners."""

    __slots__ = (
        "_asked",
        "_clock",
        "_loop",
        "_publish",
        "_thread",
        "interrupt_answers",
        "invocation_id",
        "node_id",
        "step",
    )

    def __init__(
        self,
        node_id: str,
        step: int,
        invocation_id: str,
        publish: Publish | None = None,
        clock: Clock | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.node_id = node_id
        self.step = step
        self.invocation_id = invocation_id
        self._publish = publish
        self._clock = clock
        self._loop = loop
        self._thread = threading.get_ident()
        # hitl: this node's answers at this step, by index
        self.interrupt_answers: list[Any] = []
        self._asked = 0

    def now_unix_ms(self) -> int | None:
        """Milliseconds from the injected clock; None when the runner has no clock."""
        return self._clock.now_unix_ms() if self._clock is not None else None

    def interrupt(self, payload: Any, schema: dict[str, Any] | None = None) -> Any:
        """Ask a person (ENGINE.md 8.3): the k-th call of one node run returns the k-th answer, or raises
        `NodeInterrupted` (let it through) when there is none yet; the node is re-run from its start when
        answered. `schema` (a JSON Schema) checks the answer."""
        index = self._asked
        self._asked += 1
        if index < len(self.interrupt_answers):
            return self.interrupt_answers[index]
        if schema is not None:
            check_schema(self.node_id, schema)
        raise NodeInterrupted(self.node_id, index, payload, schema)

    def _send(self, type_: str, scope: str, message: str, metadata: dict[str, JSON] | None) -> None:
        if self._publish is None:
            return
        event = Event.create(
            type_,
            scope,
            message,
            node_id=self.node_id,
            step=self.step,
            invocation_id=self.invocation_id,
            now_unix_ms=self.now_unix_ms(),
            metadata=metadata,
        )
        if self._loop is not None and threading.get_ident() != self._thread:
            # A sync node running in a worker thread: hand the event to the loop's thread.
            try:
                self._loop.call_soon_threadsafe(self._publish, event)
            except RuntimeError:  # loop closed: nobody can listen any more
                pass
        else:
            self._publish(event)

    def emit(self, scope: str, message: str, **metadata: JSON) -> None:
        """Emit a node event with this node's id and step."""
        self._send("node", scope, message, metadata or None)

    def emit_diagnostic(self, scope: str, message: str) -> None:
        self._send("diagnostic", scope, message, None)

    def _llm(self, scope: str, text: str, stream_id: str | None, metadata: dict[str, JSON] | None) -> None:
        meta: dict[str, JSON] = dict(metadata or {})
        if stream_id is not None:
            meta["stream_id"] = stream_id
        self._send("llm", scope, text, meta)

    def emit_llm_chunk(
        self, chunk: str, *, stream_id: str | None = None, metadata: dict[str, JSON] | None = None
    ) -> None:
        self._llm("chunk", chunk, stream_id, metadata)

    def emit_llm_final(
        self, chunk: str, *, stream_id: str | None = None, metadata: dict[str, JSON] | None = None
    ) -> None:
        self._llm("final", chunk, stream_id, metadata)

    def emit_llm_error(
        self, message: str, *, stream_id: str | None = None, metadata: dict[str, JSON] | None = None
    ) -> None:
        self._llm("error", message, stream_id, metadata)

    def __repr__(self) -> str:
        return (
            f"NodeContext(node_id={self.node_id!r}, step={self.step}, invocation_id={self.invocation_id!r})"
        )


def check_schema(node: str, schema: Any) -> None:
    """Raise `InvalidInterruptSchema` naming `node` unless `schema` is a valid JSON Schema (draft 2020-12)."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    if not isinstance(schema, dict | bool):
        raise InvalidInterruptSchema(node, f"expected an object, got {type(schema).__name__}")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        path = "/".join(str(p) for p in exc.path) or "(root)"
        raise InvalidInterruptSchema(node, f"{exc.message} at {path}") from None


def _is_async(fn: Any) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)  # noqa: B004  (objects with an async __call__)
    return call is not None and inspect.iscoroutinefunction(call)


class NodeInvoker:
    """Calls a registered node the cheapest correct way: async functions are awaited directly, plain
    callables run in a worker thread so the loop never blocks. Decided once, at registration."""

    __slots__ = ("fn", "is_async", "target")

    def __init__(self, target: Any, name: str = "") -> None:
        fn = target
        if not callable(target):
            run = getattr(target, "run", None)
            if run is None or not callable(run):
                raise InvalidNode(name, type(target).__name__)
            fn = run
        self.target = target
        self.fn = fn
        self.is_async = _is_async(fn)

    async def __call__(self, snapshot: StateSnapshot, ctx: NodeContext) -> NodePartial | None:
        if self.is_async:
            result = await self.fn(snapshot, ctx)
        else:
            result = await asyncio.to_thread(self.fn, snapshot, ctx)
            if inspect.isawaitable(result):
                result = await result
        if result is None or type(result) is NodePartial:
            return result
        return await self.check(result, ctx)

    async def check(self, result: Any, ctx: NodeContext) -> NodePartial | None:
        """A result that is not a `NodePartial` (nor None): awaited if awaitable, then validated. (The
        executor awaits an async `fn` itself and calls this only for such results.)"""
        if inspect.isawaitable(result):
            result = await result
        return NodePartial.validate(result, ctx.node_id)
