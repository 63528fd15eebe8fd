"""The `Checkpointer` protocol (what the runner needs) and `CheckpointStore` (browsing and administration),
the checkpoint record and the query/prune/stat records all backends share."""

from __future__ import annotations

import datetime as _dt
import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from engine.events.event import Event
from engine.node_records import NodeRecord
from engine.state import VersionedState
from engine.types import NodeKind


class CheckpointerType(enum.Enum):
    """Which built-in backend the runner builds."""

    IN_MEMORY = "in-memory"
    SQLITE = "sqlite"
    POSTGRES = "postgres"


@dataclass(slots=True)
class Checkpoint:
    """The state of a session after one superstep (or step 0 at creation)."""

    session_id: str
    step: int
    state: VersionedState
    frontier: list[NodeKind]
    versions_seen: dict[str, dict[str, int]]
    concurrency_limit: int
    created_at: _dt.datetime
    ran_nodes: list[NodeKind] = field(default_factory=list)
    skipped_nodes: list[NodeKind] = field(default_factory=list)
    updated_channels: list[str] = field(default_factory=list)
    graph_hash: str | None = None
    """The graph definition hash of the app that wrote it (stored per session; None when unknown)."""
    node_records: list[NodeRecord] | None = None
    """Node records (issue 15) saved with this step in the same transaction; None when records are off."""
    events: list[Event] | None = None
    """Stored events (issue 15, `persist_events`) written in the same transaction as this step."""
    parent: tuple[str, int] | None = None
    """(source session, step) when this is a fork's first checkpoint (issue 15)."""
    graph_name: str | None = None
    """`RuntimeConfig.graph_name`, kept in the session info (issue 15)."""


@dataclass(frozen=True, slots=True)
class StepQuery:
    """Paging and filters for `query_steps`. `ran_node` matches a node that ran in the step exactly
    ("A", "Custom:A" and `NodeKind.custom("A")` all mean node A; "A" never matches "AB")."""

    limit: int = 100
    offset: int = 0
    min_step: int | None = None
    max_step: int | None = None
    ran_node: str | NodeKind | None = None

    def __post_init__(self) -> None:
        if self.limit < 0 or self.offset < 0:
            raise ValueError(
                f"StepQuery.limit and offset must not be negative, got {self.limit}, {self.offset}"
            )

    def ran_node_kind(self) -> NodeKind | None:
        """The `ran_node` filter as a NodeKind (None when unset)."""
        if self.ran_node is None or isinstance(self.ran_node, NodeKind):
            return self.ran_node
        return NodeKind.decode(self.ran_node)


@dataclass(frozen=True, slots=True)
class StepQueryResult:
    """One page of steps, step descending; `total_count` counts every match, not just this page."""

    checkpoints: list[Checkpoint]
    total_count: int
    has_next_page: bool


@dataclass(frozen=True, slots=True)
class StepSummary:
    """A stored step without its state (`step_summaries`, the studio timeline's read): its number, save time
    and the nodes that ran and were skipped in it."""

    step: int
    created_at: _dt.datetime
    ran_nodes: list[NodeKind] = field(default_factory=list)
    skipped_nodes: list[NodeKind] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PrunePolicy:
    """Which steps to delete, limited to `session_ids` when given.

    A step is deleted when it is not among the last `keep_last` steps of its session AND (when `older_than` is
    set) was created more than `older_than` ago; with only `older_than`, every step older than that goes; with
    neither, everything but the latest step goes. A session's latest step is never deleted.
    """

    keep_last: int | None = None
    older_than: _dt.timedelta | None = None
    session_ids: tuple[str, ...] | list[str] | None = None

    def __post_init__(self) -> None:
        if self.keep_last is not None and self.keep_last < 1:
            raise ValueError(f"PrunePolicy.keep_last must be at least 1, got {self.keep_last}")
        if self.older_than is not None and not isinstance(self.older_than, _dt.timedelta):
            raise ValueError("PrunePolicy.older_than must be a datetime.timedelta")


@dataclass(frozen=True, slots=True)
class PruneReport:
    """What a prune deleted (with `dry_run`: would delete): step rows, payload bytes, sessions touched."""

    steps: int
    bytes: int
    sessions: int = 0
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class SessionStats:
    """One session as the studio lists it. `bytes` is the payload size of its stored steps."""

    session_id: str
    steps: int
    bytes: int
    last_step: int
    created_at: _dt.datetime | None = None
    updated_at: _dt.datetime | None = None
    graph_hash: str | None = None


SESSION_ORDER_COLUMNS = ("updated_at", "created_at", "id", "last_step", "steps", "bytes")


def order_expression(order_by: str) -> str:
    """The SQL the backends sort a session page by (`s` is sessions, `c` the per-session counts)."""
    if order_by not in SESSION_ORDER_COLUMNS:
        raise ValueError(f"cannot order sessions by {order_by!r}")
    return {"steps": "COALESCE(c.steps, 0)", "bytes": "COALESCE(c.bytes, 0)"}.get(order_by, f"s.{order_by}")


@dataclass(frozen=True, slots=True)
class SessionQuery:
    """One page of sessions: `search` matches a substring of the id (case-insensitive);
    `order_by` is one of "updated_at", "created_at", "id", "last_step", "steps", "bytes"."""

    limit: int = 50
    offset: int = 0
    search: str | None = None
    order_by: str = "updated_at"
    descending: bool = True

    def __post_init__(self) -> None:
        if self.order_by not in SESSION_ORDER_COLUMNS:
            raise ValueError(
                f"SessionQuery.order_by must be one of {', '.join(SESSION_ORDER_COLUMNS)}, "
                f"got {self.order_by!r}"
            )
        if self.limit < 0 or self.offset < 0:
            raise ValueError("SessionQuery.limit and offset must not be negative")


@dataclass(frozen=True, slots=True)
class SessionPage:
    items: list[SessionStats]
    total_count: int


@dataclass(frozen=True, slots=True)
class StorageStats:
    """Per-session counts and sizes; SQLite adds file, WAL and free-page bytes, both add table sizes."""

    backend: str
    sessions: list[SessionStats]
    total_steps: int
    total_bytes: int
    file_bytes: int | None = None
    wal_bytes: int | None = None
    free_bytes: int | None = None
    tables: dict[str, int] = field(default_factory=dict)
    storage_mode: str | None = None
    """"compact" (deltas plus a snapshot every `snapshot_every` steps) or "full"; None for in-memory."""
    snapshot_every: int | None = None


@runtime_checkable
class Checkpointer(Protocol):
    """What the runner needs from a checkpoint store, and all a custom checkpointer must implement.

    `save` raises `CheckpointConflict` when `expected_last_step` is given and the session's latest stored
    step differs; `load_latest` returns None for an unknown session."""

    async def save(self, checkpoint: Checkpoint, expected_last_step: int | None = None) -> None: ...

    async def load_latest(self, session_id: str) -> Checkpoint | None: ...


@runtime_checkable
class CheckpointStore(Checkpointer, Protocol):
    """A `Checkpointer` that can also be browsed and administered (the built-in backends; what the CLI
    and the studio's browser use)."""

    backend_name: str

    async def list_sessions(self) -> list[str]: ...

    async def query_steps(self, session_id: str, query: StepQuery = StepQuery()) -> StepQueryResult: ...

    async def step_summaries(
        self, session_id: str, min_step: int | None = None, max_step: int | None = None
    ) -> list[StepSummary]:
        """Every stored step of the session in this range, oldest first, without decoding any state
        (empty for an unknown session)."""
        ...

    async def delete_session(self, session_id: str) -> None: ...

    async def prune(self, policy: PrunePolicy, dry_run: bool = False) -> PruneReport: ...

    async def storage_stats(self) -> StorageStats: ...

    async def vacuum(self) -> None: ...

    async def aclose(self) -> None: ...

    def watch(self) -> AsyncIterator[tuple[str, int]]: ...
