"""Stream a graph run to a browser as Server-Sent Events: a raw ASGI app served by uvicorn.

    pip install 'weavegraph-studio[sse]'
    python examples/sse_server.py --port 8000     # then open http://127.0.0.1:8000/

`GET /events?q=<question>&delay=<seconds>` runs a small graph (plan -> research, looping twice -> write,
which streams LLM-style chunks) with lifecycle events on, and sends every event as `data: <event json>`
followed by a blank line. The response ends right after the stream-end event. If the client goes away the
run is cancelled.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from engine.app import App
from engine.errors import EngineError
from engine.events.bus import EventBus
from engine.events.event import STREAM_END_SCOPE, Event
from engine.graph.builder import GraphBuilder
from engine.node import NodeContext
from engine.partial import NodePartial
from engine.persistence.base import CheckpointerType
from engine.runner import AppRunner
from engine.state import StateSnapshot, VersionedState
from engine.types import Message

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

log = logging.getLogger("engine.examples.sse")


# ---------------------------------------------------------------- the graph


def build_graph(delay: float = 0.05) -> App:
    """plan -> research (loops until two rounds are done) -> write -> End."""

    async def plan(snapshot: StateSnapshot, ctx: NodeContext) -> NodePartial:
        await asyncio.sleep(delay)
        question = snapshot.messages[-1].content if snapshot.messages else ""
        ctx.emit("progress", f"planning an answer to {question!r}")
        return NodePartial().with_extra({"rounds": 0})

    async def research(snapshot: StateSnapshot, ctx: NodeContext) -> NodePartial:
        rounds = int(snapshot.extra.get("rounds", 0)) + 1
        ctx.emit("progress", f"research round {rounds}", round=rounds)
        await asyncio.sleep(delay)
        return NodePartial().with_extra({"rounds": rounds})

    def more_research(snapshot: StateSnapshot) -> list[str]:
        return ["research"] if int(snapshot.extra.get("rounds", 0)) < 2 else ["write"]

    async def write(snapshot: StateSnapshot, ctx: NodeContext) -> NodePartial:
        words = ["Streaming", "events", "over", "SSE", "works."]
        for word in words:
            await asyncio.sleep(delay / len(words))
            ctx.emit_llm_chunk(word + " ", stream_id="answer")
        text = " ".join(words)
        ctx.emit_llm_final(text, stream_id="answer")
        return NodePartial().with_messages([Message.assistant(text)])

    return (
        GraphBuilder()
        .add_node("plan", plan)
        .add_node("research", research)
        .add_node("write", write)
        .add_edge("Start", "plan")
        .add_edge("plan", "research")
        .add_conditional_edge("research", more_research, targets=["research", "write"])
        .add_edge("write", "End")
        .compile()
    )


async def run_graph(bus: EventBus, question: str, delay: float) -> None:
    """Run the graph once, publishing to `bus`; the runner emits the stream-end event and closes the bus."""
    runner = await (
        AppRunner.builder()
        .app(build_graph(delay))
        .checkpointer(CheckpointerType.IN_MEMORY)
        .event_bus(bus)
        .lifecycle_events(True)
        .build()
    )
    async with runner:
        session_id = f"sse-{uuid.uuid4().hex[:12]}"
        await runner.create_session(session_id, VersionedState.new_with_user_message(question))
        try:
            await runner.run_until_complete(session_id)
        except EngineError as exc:  # the stream-end event already carries status=error
            log.warning("run %s failed: %s", session_id, exc)


# ---------------------------------------------------------------- ASGI

RunFactory = Callable[[EventBus, str, float], Coroutine[Any, Any, None]]


def sse_frame(event: Event) -> bytes:
    """One SSE message. `to_json_string()` is a single line, so one `data:` field is enough."""
    return b"data: " + event.to_json_string().encode("utf-8") + b"\n\n"


async def _text(send: Send, status: int, body: str, content_type: str = "text/plain") -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", f"{content_type}; charset=utf-8".encode())],
        }
    )
    await send({"type": "http.response.body", "body": body.encode("utf-8")})


async def stream_events(receive: Receive, send: Send, question: str, delay: float, run: RunFactory) -> None:
    """Subscribe before the run starts (so nothing is missed), then forward events until stream end."""
    bus = EventBus()
    events = bus.subscribe(until_stream_end=True)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/event-stream; charset=utf-8"),
                (b"cache-control", b"no-cache"),
                (b"x-accel-buffering", b"no"),
            ],
        }
    )
    async with asyncio.TaskGroup() as tg:
        run_task = tg.create_task(run(bus, question, delay))

        async def watch_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            run_task.cancel()
            events.close()

        watcher = tg.create_task(watch_disconnect())
        try:
            async for event in events:
                await send({"type": "http.response.body", "body": sse_frame(event), "more_body": True})
        finally:
            watcher.cancel()
    await bus.aclose()  # already closed by the runner; makes a custom `run` safe too
    await send({"type": "http.response.body", "body": b"", "more_body": False})


def make_app(run: RunFactory = run_graph) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The ASGI application; `run` publishes one run's events to the bus it is given."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope["method"] != "GET":
            await _text(send, 405, "only GET is supported\n")
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if scope["path"] == "/":
            await _text(send, 200, PAGE, "text/html")
        elif scope["path"] == "/events":
            question = query.get("q", ["Why stream events?"])[0]
            try:
                delay = min(max(float(query.get("delay", ["0.05"])[0]), 0.0), 5.0)
            except ValueError:
                await _text(send, 400, "delay must be a number of seconds\n")
                return
            await stream_events(receive, send, question, delay, run)
        else:
            await _text(send, 404, "not found; try / or /events\n")

    return app


app = make_app()

PAGE = """<!doctype html>
<meta charset="utf-8"><title>Weavegraph events</title>
<style>body{font:14px system-ui;margin:2em} pre{background:#f4f4f4;padding:1em;white-space:pre-wrap}</style>
<h1>Weavegraph run</h1>
<button id="go">Run</button> <span id="status"></span>
<p id="answer"></p><pre id="log"></pre>
<script>
const END = END_SCOPE_JSON;
document.getElementById("go").onclick = () => {
  const log = document.getElementById("log"), answer = document.getElementById("answer");
  log.textContent = ""; answer.textContent = "";
  const source = new EventSource("/events?delay=0.3");
  source.onmessage = (message) => {
    const ev = JSON.parse(message.data);
    if (ev.type === "llm" && ev.scope === "chunk") answer.textContent += ev.message;
    log.textContent += `#${ev.seq} ${ev.type} ${ev.scope}: ${ev.message}\\n`;
    if (ev.scope === END) { source.close(); document.getElementById("status").textContent = ev.message; }
  };
};
</script>
""".replace("END_SCOPE_JSON", json.dumps(STREAM_END_SCOPE))


def main() -> None:
    import uvicorn  # the optional `sse` extra

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    uvicorn.run(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
