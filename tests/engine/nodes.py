"""Small node functions shared by the engine tests."""

from __future__ import annotations

import asyncio

from engine.partial import NodePartial
from engine.state import StateSnapshot
from engine.types import Message


def appender(text: str, delay: float = 0.0):  # type: ignore[no-untyped-def]
    """An async node that appends one assistant message after an optional delay."""

    async def node(snapshot: StateSnapshot, ctx: object) -> NodePartial:
        if delay:
            await asyncio.sleep(delay)
        return NodePartial(messages=[Message.assistant(text)])

    node.__name__ = f"append_{text}"
    return node


async def nothing(snapshot: StateSnapshot, ctx: object) -> None:
    return None
