"""How a run's interrupts show on the canvas (README "Human in the loop: interrupts"): a node whose
`ctx.interrupt` waits for an answer has the run status `ASKING`, with the prompt as its message, until the
answer arrives and the node runs again. No Qt here; the run controller and the inbox use it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["ASKING", "asking_statuses", "prompt_line"]

ASKING = "asking"
"""The run status of a node waiting for a person's answer (the canvas draws it as waiting)."""


def prompt_line(payload: Any) -> str:
    """An interrupt's prompt in one line: the payload's `prompt` (the `ask` node's), else the payload."""
    import json

    if isinstance(payload, dict) and isinstance(payload.get("prompt"), str):
        text = payload["prompt"]
    elif isinstance(payload, str):
        text = payload
    else:
        text = json.dumps(payload, ensure_ascii=False)
    return " ".join(text.split())


def asking_statuses(interrupts: Iterable[Any]) -> dict[str, tuple[str, int | None, str]]:
    """{node: (ASKING, step, prompt)} for the pending interrupts (the first prompt of each node)."""
    out: dict[str, tuple[str, int | None, str]] = {}
    for i in interrupts:
        if getattr(i, "answered_at", None) is None and i.node not in out:
            out[i.node] = (ASKING, i.step, prompt_line(i.payload))
    return out
