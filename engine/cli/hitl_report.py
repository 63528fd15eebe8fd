"""How `run`, `step` and `resume` report a session that stopped at an interrupt (ENGINE.md 8.5): the pending
interrupts (text, or JSON with --json) and exit code 3."""

from __future__ import annotations

import argparse
import json

from engine.cli.support import emit_json, say
from engine.hitl_types import PendingInterrupt
from engine.types import JSON

EXIT_INTERRUPTED = 3
"""A session stopped at an interrupt: it waits for answers (`weavegraph inbox`, `weavegraph resume`)."""


def interrupt_json(i: PendingInterrupt) -> dict[str, JSON]:
    return {
        "id": i.id,
        "session_id": i.session_id,
        "step": i.step,
        "node": i.node,
        "index": i.index,
        "payload": i.payload,
        "schema": i.schema,
        "created_at": i.created_at.isoformat(),
        "answer": i.answer,
        "answered_at": i.answered_at.isoformat() if i.answered_at is not None else None,
    }


def line_of(i: PendingInterrupt) -> str:
    payload = json.dumps(i.payload, ensure_ascii=False)
    return f"{i.id}  session {i.session_id}  step {i.step}  node {i.node} (call {i.index})  {payload}"


def report_interrupted(args: argparse.Namespace, session_id: str, interrupts: list[PendingInterrupt]) -> int:
    """Print the pending interrupts of a stopped session (JSON with --json) and return exit code 3."""
    if getattr(args, "json", False):
        emit_json(
            {
                "session_id": session_id,
                "status": "interrupted",
                "interrupts": [interrupt_json(i) for i in interrupts],
            }
        )
    else:
        say(f"session {session_id} is waiting for {len(interrupts)} answer(s):")
        for i in interrupts:
            say(f"  {line_of(i)}")
        say(f"answer: weavegraph resume GRAPH --session {session_id} --db URL --answer JSON [--interrupt ID]")
    return EXIT_INTERRUPTED
