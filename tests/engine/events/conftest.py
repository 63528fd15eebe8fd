"""Fixtures for the event tests: asyncio debug mode, and a small event factory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from engine.events.event import Event


@pytest.fixture
async def debug_loop() -> AsyncIterator[asyncio.AbstractEventLoop]:
    """The test's loop in debug mode (catches cross-thread loop calls and never-awaited coroutines)."""
    loop = asyncio.get_running_loop()
    previous = loop.get_debug()
    loop.set_debug(True)
    yield loop
    loop.set_debug(previous)


def make_event(i: int = 0, *, type_: str = "node", scope: str = "progress") -> Event:
    return Event.create(type_, scope, f"message {i}", node_id="A", step=1, metadata={"i": i})
