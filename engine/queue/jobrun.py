"""What a worker does with one job: check its input and the session's graph hash, then run the session to
completion over the Postgres checkpointer, resuming from its latest checkpoint when it exists."""

from __future__ import annotations

from typing import Any

from engine.queue.models import QueueError
from engine.state import VersionedState


def input_state(value: Any, where: str) -> VersionedState:
    """The initial state from a job's `input` (`{"messages": [{"role", "content"}], "extra": {...}}`, both
    optional); `QueueError` naming the first thing wrong."""
    from engine.graph.convert import document_input_state

    if value is None:
        return VersionedState([], {})
    if not isinstance(value, dict):
        raise QueueError(f"{where}: the input must be a JSON object, not {type(value).__name__}")
    unknown = sorted(set(value) - {"messages", "extra"})
    if unknown:
        raise QueueError(f"{where}: unknown input key(s) {', '.join(unknown)}; use messages and extra")
    messages = value.get("messages", [])
    if not isinstance(messages, list):
        raise QueueError(f"{where}: input.messages must be a list")
    for i, item in enumerate(messages):
        if not isinstance(item, dict) or not isinstance(item.get("content", ""), str):
            raise QueueError(f"{where}: input.messages[{i}] must be an object with a string content")
    if "extra" in value and not isinstance(value["extra"], dict):
        raise QueueError(f"{where}: input.extra must be a JSON object")
    return document_input_state(value)


async def check_graph_hash(checkpointer: Any, app: Any, graph_name: str, session_id: str) -> None:
    """`QueueError` naming both hashes when the session was written by another version of the graph."""
    stored = await checkpointer.graph_hash(session_id)
    current = app.graph_definition_hash()
    if stored and stored != current:
        raise QueueError(
            f"session '{session_id}' was written by graph hash {stored}, but this worker's graph "
            f"'{graph_name}' has hash {current}"
        )


async def run_session(
    app: Any, checkpointer: Any, graph_name: str, session_id: str, value: Any, **builder: Any
) -> int:
    """Run the session to completion (resuming it when it exists); return its last step."""
    from engine.launch import open_runner

    state = input_state(value, f"job input of session '{session_id}'")
    await check_graph_hash(checkpointer, app, graph_name, session_id)
    runner = await open_runner(app, checkpointer=checkpointer, **builder)
    async with runner:
        await runner.create_session(session_id, state)
        await runner.run_until_complete(session_id)
        step: int = runner.get_session(session_id).step
    return step
