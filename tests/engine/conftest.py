"""Engine test helpers: small node functions and graph shortcuts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest


@pytest.fixture(autouse=True)
async def _asyncio_debug() -> AsyncIterator[None]:
    """Engine tests run with asyncio debug mode on (slow callbacks and unawaited coroutines surface)."""
    loop = asyncio.get_running_loop()
    before = loop.get_debug()
    loop.set_debug(True)
    loop.slow_callback_duration = 1.0
    yield
    loop.set_debug(before)
