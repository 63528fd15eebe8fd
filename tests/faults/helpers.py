"""Shared pieces of the fault suite: the looping document every crash test runs, the `weavegraph` command as
a real process, the reference run (every step's state) and the nothing-changed snapshot of a folder."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.graph.document import GraphDocument, document_input_state, document_to_app, parse_document
from engine.persistence.base import Checkpointer, StepQuery
from engine.runner import AppRunner
from engine.state import VersionedState

ROOT = Path(__file__).resolve().parents[2]
SESSION = "fault"
LIMIT = 60
STEPS = 2 * LIMIT + 1
"""Steps of a complete run of `loop_document()`: attempt and note per round, then done."""
SAVES = STEPS + 1
"""Checkpoints of a complete run: step 0 (the session's creation) and one per step."""


def loop_document(limit: int = LIMIT, delay_ms: int = 0) -> dict[str, Any]:
    """attempt (count += 1) -> note (a message) -> back to attempt until count reaches `limit`, then done.
    Every step adds to the state, so compact storage writes deltas and full storage whole states. With
    `delay_ms` a delay node between note and the router makes each round last that long."""
    nodes: list[dict[str, Any]] = [
        {"id": "attempt", "type": "accumulate", "config": {"key": "increment", "into": "count"}},
        {
            "id": "note",
            "type": "message",
            "config": {"role": "assistant", "content": "attempt {extra[count]} of {extra[limit]}"},
        },
        {"id": "done", "type": "message", "config": {"role": "assistant", "content": "done: {extra[count]}"}},
    ]
    edges = [
        {"from": "Start", "to": "attempt"},
        {"from": "attempt", "to": "note"},
        {"from": "done", "to": "End"},
    ]
    router_from = "note"
    if delay_ms:
        nodes.append({"id": "wait", "type": "delay", "config": {"ms": delay_ms}})
        edges.append({"from": "note", "to": "wait"})
        router_from = "wait"
    route = {"key": "count", "op": "<", "value": limit, "then": ["attempt"], "else": ["done"]}
    return {
        "format": "weavegraph.graph",
        "version": 1,
        "name": "Fault loop",
        "nodes": nodes,
        "edges": edges,
        "conditional_edges": [
            {
                "from": router_from,
                "router": {"type": "route_if", "config": route},
                "targets": ["attempt", "done"],
            }
        ],
        "runtime": {"max_steps": 10 * limit + 10},
        "input": {
            "messages": [{"role": "user", "content": "go"}],
            "extra": {"count": 0, "increment": 1, "limit": limit},
        },
    }


def write_document(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


def cli_command(*args: str) -> list[str]:
    """`weavegraph ARGS...` as a process of this interpreter (the installed script may be elsewhere)."""
    return [sys.executable, "-m", "engine.cli", *args]


def cli_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("WEAVEGRAPH_SQLITE_URL", "SQLITE_DB_NAME", "WEAVEGRAPH_POSTGRES_URL", "WEAVEGRAPH_LOG")
    }
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


@dataclass(frozen=True, slots=True)
class CliResult:
    code: int
    out: str
    err: str


def run_cli(*args: str, cwd: Path, timeout: float = 120, **env: str) -> CliResult:
    proc = subprocess.run(
        cli_command(*args), cwd=cwd, env=cli_env(**env), capture_output=True, text=True, timeout=timeout
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def app_of(data: dict[str, Any]) -> tuple[Any, VersionedState]:
    doc: GraphDocument = parse_document(data)
    return document_to_app(doc), document_input_state(doc)


async def reference_states(data: dict[str, Any], folder: Path, mode: str = "full") -> list[VersionedState]:
    """The state after every step (index = step) of one undisturbed run of the document (kept in an SQLite
    file in `folder`, since the in-memory checkpointer keeps only the latest step)."""
    from engine.persistence.sqlite import SQLiteCheckpointer

    app, state = app_of(data)
    storage = await SQLiteCheckpointer.connect(f"sqlite://{folder / 'reference.db'}?storage={mode}")
    try:
        async with await AppRunner.builder().app(app).checkpointer_custom(storage).build() as runner:
            await runner.create_session(SESSION, state)
            await runner.run_until_complete(SESSION)
        return await saved_states(storage, SESSION)
    finally:
        await storage.aclose()


async def saved_states(storage: Checkpointer, session: str) -> list[VersionedState]:
    """Every saved step's state, loaded one by one, in step order (index = step: no gap allowed)."""
    rows = (await storage.query_steps(session, StepQuery(limit=100_000))).checkpoints
    steps = sorted(c.step for c in rows)
    assert steps == list(range(len(steps))), f"saved steps have gaps or repeats: {steps}"
    states = []
    for step in steps:
        loader = getattr(storage, "load_step", None)
        checkpoint = await loader(session, step) if loader is not None else None
        if checkpoint is None:
            checkpoint = next(c for c in rows if c.step == step)
        assert checkpoint.step == step
        states.append(checkpoint.state)
    return states


async def resume_to_end(
    storage: Checkpointer, data: dict[str, Any], session: str = SESSION
) -> VersionedState:
    """Resume (or start) the session on `storage` and run it to completion, as a new process would."""
    app, state = app_of(data)
    async with await AppRunner.builder().app(app).checkpointer_custom(storage).build() as runner:
        await runner.create_session(session, state)
        final: VersionedState = await runner.run_until_complete(session)
    return final


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def folder_snapshot(folder: Path) -> dict[str, tuple[int, str]]:
    """name -> (mode, sha256) of every file in `folder` (no sub-folders expected): a new `-wal`, `-shm` or
    `-journal` file, a changed byte or a changed mode all show."""
    out: dict[str, tuple[int, str]] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file():
            out[path.name] = (path.stat().st_mode, sha256(path))
        else:
            out[path.name + "/"] = (path.stat().st_mode, "")
    return out
