"""The records the LangGraph reader returns (frozen, slotted): threads, checkpoints, values, pages, trees."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

THREAD_ORDER = ("updated", "thread_id", "checkpoints", "bytes")


@dataclass(frozen=True, slots=True, order=True)
class ThreadKey:
    """One checkpoint chain: a thread and a checkpoint namespace ("" is the root graph; a subgraph call's
    namespace is `"<node>:<task id>"`)."""

    thread_id: str
    checkpoint_ns: str = ""

    @property
    def label(self) -> str:
        return self.thread_id if not self.checkpoint_ns else f"{self.thread_id} [{self.checkpoint_ns}]"


@dataclass(frozen=True, slots=True)
class ThreadInfo:
    """A thread (in one namespace) as the session list shows it."""

    key: ThreadKey
    checkpoints: int
    bytes: int
    """Stored bytes of its checkpoint rows (SQLite: checkpoint and metadata blobs; Postgres: the rows'
    JSONB plus the blobs of its namespace) and of its pending writes."""
    latest_checkpoint_id: str
    updated_at: _dt.datetime | None


@dataclass(frozen=True, slots=True)
class ThreadQuery:
    """A page of threads: `search` is a case-insensitive substring of the thread id or namespace;
    `order_by` is "updated" (latest checkpoint), "thread_id", "checkpoints" or "bytes";
    `subgraphs=False` lists the root namespace only."""

    limit: int = 50
    offset: int = 0
    search: str | None = None
    order_by: str = "updated"
    descending: bool = True
    subgraphs: bool = True

    def __post_init__(self) -> None:
        if self.order_by not in THREAD_ORDER:
            raise ValueError(
                f"ThreadQuery.order_by must be one of {', '.join(THREAD_ORDER)}, got {self.order_by!r}"
            )
        if self.limit < 0 or self.offset < 0:
            raise ValueError("ThreadQuery.limit and offset must not be negative")


@dataclass(frozen=True, slots=True)
class ThreadPage:
    items: list[ThreadInfo]
    total_count: int


@dataclass(frozen=True, slots=True)
class CheckpointInfo:
    """One checkpoint as a step row: its id, parent link, LangGraph metadata and stored size."""

    key: ThreadKey
    checkpoint_id: str
    parent_checkpoint_id: str | None
    step: int | None
    source: str | None
    created_at: _dt.datetime | None
    bytes: int
    """SQLite: the checkpoint and metadata blobs; Postgres: the row plus the blobs it references."""
    writes: int
    """Pending write rows stored under this checkpoint."""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def metadata_writes(self) -> Any:
        """LangGraph's `metadata["writes"]` (node -> update) when the saver recorded it, else None."""
        return self.metadata.get("writes")


@dataclass(frozen=True, slots=True)
class CheckpointPage:
    """Checkpoints newest first (checkpoint ids are time-ordered); `total_count` counts the whole chain."""

    items: list[CheckpointInfo]
    total_count: int
    has_next_page: bool


@dataclass(frozen=True, slots=True)
class Value:
    """A stored value: its serializer type tag, stored size and, when decodable, the decoded value as JSON
    (`value`); `error` says why it could not be decoded (then `value` is None and `decoded` False)."""

    type: str | None
    size: int
    decoded: bool
    value: Any = None
    error: str | None = None
    plain: bool = True
    """Whether the decoded value was plain JSON data (False for datetimes, sets, messages, objects)."""
    python_type: str | None = None
    """The type of the first value that is not plain JSON data, when `plain` is False."""


@dataclass(frozen=True, slots=True)
class PendingWrite:
    task_id: str
    task_path: str
    idx: int
    channel: str
    value: Value


@dataclass(frozen=True, slots=True)
class CheckpointDetail:
    """A checkpoint opened: every channel's value, versions, pending writes and metadata."""

    info: CheckpointInfo
    channels: dict[str, Value]
    channel_versions: dict[str, Any]
    versions_seen: dict[str, dict[str, Any]]
    pending_writes: list[PendingWrite]
    format_version: int | None
    error: str | None = None
    """Set when the checkpoint document itself cannot be read (then `channels` is empty)."""


@dataclass(frozen=True, slots=True)
class CheckpointTree:
    """Every checkpoint of a chain, oldest first, with parent links and a lane per checkpoint for drawing:
    the branch that leads to the newest checkpoint is lane 0, each fork opens the next lane."""

    key: ThreadKey
    nodes: list[CheckpointInfo]
    children: dict[str, list[str]]
    roots: list[str]
    lanes: dict[str, int]

    @property
    def tips(self) -> list[str]:
        """Checkpoints without children: the head of every branch."""
        return [n.checkpoint_id for n in self.nodes if not self.children.get(n.checkpoint_id)]


@dataclass(frozen=True, slots=True)
class ChannelBytes:
    channel: str
    bytes: int
    values: int
    """How many stored copies (SQLite: checkpoints carrying the channel; Postgres: blob versions)."""
    distinct: int
    """How many of them differ (by content hash)."""


@dataclass(frozen=True, slots=True)
class RepeatedBlob:
    """The same content stored `copies` times in `channel` (the same hash); `wasted` = (copies - 1) * size."""

    channel: str
    digest: str
    size: int
    copies: int

    @property
    def wasted(self) -> int:
        return (self.copies - 1) * self.size


@dataclass(frozen=True, slots=True)
class PruneSummary:
    """What a prune would remove (or removed): checkpoint and write rows, Postgres blobs, bytes, threads."""

    keep_last: int
    checkpoints: int
    writes: int
    blobs: int
    bytes: int
    threads: int


@dataclass(frozen=True, slots=True)
class StorageReport:
    """Where the bytes of a LangGraph database are."""

    backend: str
    checkpoints: int
    writes: int
    threads: list[ThreadInfo]
    """Every thread and namespace, largest first."""
    channels: list[ChannelBytes]
    """Every channel, largest first."""
    largest_checkpoints: list[CheckpointInfo]
    """The largest checkpoint rows, largest first (Postgres: by row size, without the shared blobs)."""
    repeated: list[RepeatedBlob]
    """The most wasteful repeated blobs, most wasted bytes first."""
    repeated_bytes: int
    """Bytes spent on copies of content stored before (all of them, not only the listed ones)."""
    tables: dict[str, int]
    file_bytes: int | None = None
    wal_bytes: int | None = None
    free_bytes: int | None = None
    page_size: int | None = None
    keep_last: list[PruneSummary] = field(default_factory=list)
    """The estimated saving of keep-last-N for each N asked."""
