"""In-memory checkpointer: the latest checkpoint per session, nothing more."""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
import time
from collections.abc import AsyncIterator

from engine.errors import CheckpointConflict
from engine.events.event import Event
from engine.hitl_types import PendingInterrupt
from engine.node_records import NodeRecord, StepRecords
from engine.persistence.base import (
    Checkpoint,
    PrunePolicy,
    PruneReport,
    SessionPage,
    SessionQuery,
    SessionStats,
    StepQuery,
    StepQueryResult,
    StepSummary,
    StorageStats,
)
from engine.persistence.interrupts_store import InterruptStore, MemoryInterrupts
from engine.persistence.records_store import SessionInfo
from engine.persistence.serde import state_to_json


def _utc(t: float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(t, _dt.UTC)


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
        cp.graph_hash,
    )


class InMemoryCheckpointer:
    """Keeps the latest checkpoint of each session in this process."""

    backend_name = "in-memory"
    takes_unbuilt_records = True
    """The runner hands its node records over unbuilt (`StepRecords`, built when read) in
    `Checkpoint.node_records`: only the latest step's are kept, so most are never read."""

    def __init__(self) -> None:
        self._latest: dict[str, Checkpoint] = {}
        # save times as `time.time()` (a datetime is built only when read: saves are the hot path)
        self._updated: dict[str, float] = {}
        self._created: dict[str, float] = {}
        self._watchers: list[asyncio.Queue[tuple[str, int]]] = []
        self._interrupts = MemoryInterrupts()  # hitl: for the life of this checkpointer
        # node records (issue 15): the latest step's (as the runner hands them over: built when read)
        self._records: dict[str, list[NodeRecord] | StepRecords] = {}
        self._info: dict[str, tuple[str | None, int | None, str | None]] = {}  # session info (issue 15)
        self._events: dict[str, list[Event]] = {}  # stored events (issue 15): all of a live session's

    async def save(self, checkpoint: Checkpoint, expected_last_step: int | None = None) -> None:
        current = self._latest.get(checkpoint.session_id)
        if expected_last_step is not None:
            actual = current.step if current is not None else None
            if actual != expected_last_step:
                raise CheckpointConflict(checkpoint.session_id, expected_last_step, actual)
        if current is not None and checkpoint.step < current.step:
            return  # the latest pointer only moves forward
        self._latest.pop(checkpoint.session_id, None)  # keep most-recently-updated order
        stored = _copy(checkpoint)
        if stored.graph_hash is None and current is not None:
            stored.graph_hash = current.graph_hash
        self._latest[checkpoint.session_id] = stored
        if checkpoint.parent is not None or checkpoint.session_id not in self._info:
            parent = checkpoint.parent or (None, None)
            self._info[checkpoint.session_id] = (parent[0], parent[1], checkpoint.graph_name)
        if checkpoint.events:
            self._events.setdefault(checkpoint.session_id, []).extend(checkpoint.events)
        records = checkpoint.node_records
        if records is not None or current is None or current.step != checkpoint.step:
            # the runner's own records come unbuilt (`takes_unbuilt_records`): kept as they are
            self._records[checkpoint.session_id] = (
                records if type(records) is StepRecords else list(records or ())
            )
        now = time.time()
        self._updated[checkpoint.session_id] = now
        self._created.setdefault(checkpoint.session_id, now)
        for queue in self._watchers:
            queue.put_nowait((checkpoint.session_id, checkpoint.step))

    # ---- hitl (ENGINE.md 8.3): interrupts, in tables of our own (engine/persistence/interrupts_store.py)

    def interrupt_store(self) -> InterruptStore:
        return self._interrupts

    async def list_interrupts(
        self, pending: bool = True, limit: int = 100, offset: int = 0
    ) -> list[PendingInterrupt]:
        """Interrupts across every session, newest first; `pending=False` adds the answered ones."""
        return await self.interrupt_store().list_interrupts(pending, limit, offset)

    async def load_latest(self, session_id: str) -> Checkpoint | None:
        cp = self._latest.get(session_id)
        return _copy(cp) if cp is not None else None

    async def node_records(self, session_id: str, step: int | None = None) -> list[NodeRecord]:
        """The latest step's node records (only those are kept), or none for another `step`."""
        kept = self._records.get(session_id, [])
        records = kept.records() if isinstance(kept, StepRecords) else kept
        return [r for r in records if step is None or r.step == step]

    async def session_info(self, session_id: str) -> SessionInfo | None:
        cp = self._latest.get(session_id)
        if cp is None:
            return None
        parent, step, name = self._info.get(session_id, (None, None, None))
        return SessionInfo(
            session_id,
            _utc(self._created[session_id]),
            _utc(self._updated[session_id]),
            cp.step,
            1,
            parent,
            step,
            cp.graph_hash,
            name,
        )

    async def children(self, session_id: str) -> list[SessionInfo]:
        out = []
        for sid in sorted(s for s, info in self._info.items() if info[0] == session_id):
            info = await self.session_info(sid)
            if info is not None:
                out.append(info)
        return out

    async def append_events(self, session_id: str, events: list[Event]) -> None:
        self._events.setdefault(session_id, []).extend(events)

    async def events(
        self,
        session_id: str,
        min_step: int | None = None,
        max_step: int | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """The session's stored events in order; those without a step pass the step filters."""
        out = [
            e
            for e in self._events.get(session_id, ())
            if e.step is None
            or ((min_step is None or e.step >= min_step) and (max_step is None or e.step <= max_step))
        ]
        return out[:limit] if limit is not None else out

    async def load_step(self, session_id: str, step: int) -> Checkpoint | None:
        """Only the latest step is kept, so only it can be loaded."""
        cp = self._latest.get(session_id)
        return _copy(cp) if cp is not None and cp.step == step else None

    async def graph_hash(self, session_id: str) -> str | None:
        cp = self._latest.get(session_id)
        return cp.graph_hash if cp is not None else None

    async def session_page(self, query: SessionQuery = SessionQuery()) -> SessionPage:
        stats = [s for s in self._stats() if not query.search or query.search.lower() in s.session_id.lower()]
        key = {
            "updated_at": lambda s: (s.updated_at, s.session_id),
            "created_at": lambda s: (s.created_at, s.session_id),
            "id": lambda s: (s.session_id,),
            "last_step": lambda s: (s.last_step, s.session_id),
            "steps": lambda s: (s.steps, s.session_id),
            "bytes": lambda s: (s.bytes, s.session_id),
        }[query.order_by]
        stats.sort(key=key, reverse=query.descending)
        return SessionPage(stats[query.offset : query.offset + query.limit], len(stats))

    def _stats(self) -> list[SessionStats]:
        out = []
        for sid in reversed(self._latest):
            cp = self._latest[sid]
            size = len(json.dumps(state_to_json(cp.state), default=str).encode())
            out.append(
                SessionStats(
                    sid, 1, size, cp.step, _utc(self._created[sid]), _utc(self._updated[sid]), cp.graph_hash
                )
            )
        return out

    async def list_sessions(self) -> list[str]:
        return list(reversed(self._latest))

    async def query_steps(self, session_id: str, query: StepQuery = StepQuery()) -> StepQueryResult:
        cp = self._latest.get(session_id)
        items = []
        if cp is not None and (
            (query.min_step is None or cp.step >= query.min_step)
            and (query.max_step is None or cp.step <= query.max_step)
            and (query.ran_node is None or query.ran_node_kind() in cp.ran_nodes)
        ):
            items = [_copy(cp)]
        page = items[query.offset : query.offset + query.limit]
        return StepQueryResult(page, len(items), query.offset + len(page) < len(items))

    async def step_summaries(
        self, session_id: str, min_step: int | None = None, max_step: int | None = None
    ) -> list[StepSummary]:
        """The latest step (all this backend keeps) when it is in the range: number, save time, ran and
        skipped nodes."""
        cp = self._latest.get(session_id)
        if (
            cp is None
            or (min_step is not None and cp.step < min_step)
            or (max_step is not None and cp.step > max_step)
        ):
            return []
        return [StepSummary(cp.step, cp.created_at, list(cp.ran_nodes), list(cp.skipped_nodes))]

    async def delete_session(self, session_id: str) -> None:
        self._latest.pop(session_id, None)
        self._updated.pop(session_id, None)
        self._created.pop(session_id, None)
        self._records.pop(session_id, None)
        self._events.pop(session_id, None)
        self._info.pop(session_id, None)
        self._interrupts.forget_session(session_id)

    async def prune(self, policy: PrunePolicy, dry_run: bool = False) -> PruneReport:
        return PruneReport(0, 0, 0, dry_run)  # only latest steps are kept, and those are never pruned

    async def storage_stats(self) -> StorageStats:
        sessions = self._stats()
        return StorageStats(self.backend_name, sessions, len(sessions), sum(s.bytes for s in sessions))

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
