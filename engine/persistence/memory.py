"""In-memory checkpointer: the latest checkpoint per session, nothing more."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from engine.errors import CheckpointConflict
from engine.persistence.base import (
    Checkpoint,
    PrunePolicy,
    PruneReport,
    SessionStats,
    StepQuery,
    StepQueryResult,
    StorageStats,
)
from engine.persistence.serde import state_to_json


def _copy(cp: Checkpoint) -> Checkpoint:
    return Checkpoint(
        cp.session_id,
        cp.step,
        cp.state.copy(),
        list(cp.frontier),
        {k: dict(v) for k, v in cp.versions_seen.items()},
        cp.concurrency_limit,
        cp.created_at,
        list(cp.ran_nodes),
        list(cp.skipped_nodes),
        list(cp.updated_channels),
    )


class InMemoryCheckpointer:
    """Keeps the latest checkpoint of each session in this process."""

    backend_name = "in-memory"

    def __init__(self) -> None:
        self._latest: dict[str, Checkpoint] = {}
        self._watchers: list[asyncio.Queue[tuple[str, int]]] = []

    async def save(self, checkpoint: Checkpoint, expected_last_step: int | None = None) -> None:
        current = self._latest.get(checkpoint.session_id)
        if expected_last_step is not None:
            actual = current.step if current is not None else None
            if actual != expected_last_step:
                raise CheckpointConflict(checkpoint.session_id, expected_last_step, actual)
        if current is not None and checkpoint.step < current.step:
            return  # the latest pointer only moves forward
        self._latest.pop(checkpoint.session_id, None)  # keep most-recently-updated order
        self._latest[checkpoint.session_id] = _copy(checkpoint)
        for queue in self._watchers:
            queue.put_nowait((checkpoint.session_id, checkpoint.step))

    async def load_latest(self, session_id: str) -> Checkpoint | None:
        cp = self._latest.get(session_id)
        return _copy(cp) if cp is not None else None

    async def list_sessions(self) -> list[str]:
        return list(reversed(self._latest))

    async def query_steps(self, session_id: str, query: StepQuery = StepQuery()) -> StepQueryResult:
        cp = self._latest.get(session_id)
        items = []
        if cp is not None and (
            (query.min_step is None or cp.step >= query.min_step)
            and (query.max_step is None or cp.step <= query.max_step)
            and (query.ran_node is None or any(n.name == query.ran_node for n in cp.ran_nodes))
        ):
            items = [_copy(cp)]
        page = items[query.offset : query.offset + query.limit]
        return StepQueryResult(page, len(items), query.offset + len(page) < len(items))

    async def delete_session(self, session_id: str) -> None:
        self._latest.pop(session_id, None)

    async def prune(self, policy: PrunePolicy, dry_run: bool = False) -> PruneReport:
        return PruneReport(0, 0, 0, dry_run)  # only latest steps are kept, and those are never pruned

    async def storage_stats(self) -> StorageStats:
        sessions = []
        for cp in self._latest.values():
            size = len(json.dumps(state_to_json(cp.state), default=str))
            sessions.append(SessionStats(cp.session_id, 1, size, cp.step, None, cp.created_at))
        return StorageStats(
            self.backend_name, sessions, len(sessions), sum(s.bytes for s in sessions)
        )

    async def vacuum(self) -> None:
        return None

    async def aclose(self) -> None:
        self._watchers.clear()

    async def watch(self) -> AsyncIterator[tuple[str, int]]:
        queue: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
        self._watchers.append(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._watchers.remove(queue)
