"""The SSE example over real HTTP: uvicorn on an ephemeral port, read with httpx."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from engine.events.bus import EventBus
from engine.events.event import STREAM_END_SCOPE, Event, end_message

uvicorn = pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sse_server.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("weavegraph_example_sse_server", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example() -> ModuleType:
    return load_example()


async def serve(asgi_app: Any) -> AsyncIterator[str]:
    """Run uvicorn inside the test's loop on 127.0.0.1 and an ephemeral port; yield the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(asgi_app, log_level="warning", lifespan="on", ws="none", http="h11")
    server = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        async with asyncio.timeout(10):
            await task
        sock.close()


async def read_sse(url: str) -> tuple[Any, list[dict[str, Any]], str]:
    events: list[dict[str, Any]] = []
    raw = ""
    async with httpx.AsyncClient(timeout=10) as client, client.stream("GET", url) as response:
        async for chunk in response.aiter_text():
            raw += chunk
    for frame in raw.split("\n\n"):
        if frame:
            assert frame.startswith("data: ") and "\n" not in frame, frame
            events.append(json.loads(frame[len("data: ") :]))
    return response, events, raw


@pytest.fixture
async def base_url(example: ModuleType) -> AsyncIterator[str]:
    async for url in serve(example.app):
        yield url


async def test_sse_streams_a_real_graph_run_and_ends_after_stream_end(base_url: str) -> None:
    response, events, raw = await read_sse(f"{base_url}/events?q=hello&delay=0")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert raw.endswith("\n\n")
    assert events, "no events"
    assert [e["seq"] for e in events] == list(range(len(events)))
    assert all(Event.from_json(e).to_json_value() == e for e in events)
    # ends with, and only with, the stream-end event
    assert events[-1]["scope"] == STREAM_END_SCOPE and events[-1]["type"] == "diagnostic"
    assert [e["scope"] for e in events].count(STREAM_END_SCOPE) == 1
    assert "status=completed" in events[-1]["message"] and events[-1]["message"].endswith("step=4")
    scopes = [e["scope"] for e in events]
    assert scopes.index("run.start") < scopes.index("node.start") < scopes.index("run.end")
    started = [e["metadata"].get("node_id") for e in events if e["scope"] == "node.start"]
    assert started == ["plan", "research", "research", "write"]
    rounds = [e["metadata"]["round"] for e in events if e["message"].startswith("research round")]
    assert rounds == [1, 2]
    chunks = [e["message"] for e in events if e["type"] == "llm" and e["scope"] == "chunk"]
    assert "".join(chunks).split() == ["Streaming", "events", "over", "SSE", "works."]
    assert any(e["type"] == "llm" and e["scope"] == "final" for e in events)


async def test_sse_page_and_errors(base_url: str) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        page = await client.get(f"{base_url}/")
        assert page.status_code == 200 and "EventSource" in page.text and STREAM_END_SCOPE in page.text
        assert (await client.get(f"{base_url}/nope")).status_code == 404
        assert (await client.get(f"{base_url}/events?delay=soon")).status_code == 400
        assert (await client.post(f"{base_url}/events")).status_code == 405


async def test_sse_with_a_scripted_run(example: ModuleType) -> None:
    """Any coroutine that publishes to the bus can feed the stream; it stops at the stream end."""

    async def scripted(bus: EventBus, question: str, delay: float) -> None:
        for i in range(5):
            bus.publish(Event.create("node", "progress", f"{question} {i}", node_id="A", step=i + 1))
            await asyncio.sleep(delay)
        bus.publish(Event.create("diagnostic", STREAM_END_SCOPE, end_message("s", "completed", 5)))
        bus.publish(Event.create("node", "late", "after the end: not streamed"))

    async for url in serve(example.make_app(scripted)):
        _, events, _ = await read_sse(f"{url}/events?q=tick&delay=0.001")
    assert [e["message"] for e in events[:-1]] == [f"tick {i}" for i in range(5)]
    assert events[-1]["scope"] == STREAM_END_SCOPE


async def test_client_disconnect_cancels_the_run(example: ModuleType) -> None:
    cancelled = asyncio.Event()

    async def endless(bus: EventBus, question: str, delay: float) -> None:
        try:
            while True:
                bus.publish(Event.create("node", "tick", question))
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async for url in serve(example.make_app(endless)):
        async with httpx.AsyncClient(timeout=5) as client, client.stream("GET", f"{url}/events") as response:
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    break
        async with asyncio.timeout(5):
            await cancelled.wait()
