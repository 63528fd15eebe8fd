"""Group commit, backend-agnostic (issue 20): saves that arrive while a commit is in flight are written
together in the next transaction.

A backend hands `GroupCommitter` one coroutine, `write_group(items)`, which writes a whole group in ONE
transaction and returns one outcome per item, in order: None for an item that is committed, or the
exception of an item that failed alone (a `CheckpointConflict`, checked inside the transaction) while the
rest of its group committed. When `write_group` itself raises (disk full, I/O error, server gone), the
transaction failed as a whole: every caller of that group gets that same exception, and the next group
starts clean.

`submit(item)` returns only when `write_group` has returned for the group holding the item, that is
when the item's rows are committed. The first save of an idle committer is written at once, alone and in
its caller's task (no waiting for company, no hand-over); while a group is in flight, newcomers queue and go
together in the next group, written by the committer's writer task (at most `max_group` per group). With
`enabled=False` every item is its own group, written in the caller's task.

Two groups in turn, not one (`pipeline`, on by default): with many callers (at least `PIPELINE_FROM`
between the queue and the group just written) a group takes at most half of them. The callers of one half
then run their next steps on the event loop while the other half's transaction is being written (by the
server, or by SQLite in aiosqlite's thread), instead of everyone waiting for one big transaction and the
writer then waiting for everyone; without it the first caller back writes alone and the rest follow in a
group of all but one. Only the grouping changes: every item still returns when its own group committed.

A caller cancelled while its item still waits is taken out of the queue (nothing of it is written); once
its group is in flight the write goes on, whatever the caller does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from engine.errors import CheckpointerError

T = TypeVar("T")

WriteGroup = Callable[[list[T]], Awaitable[Sequence[BaseException | None]]]
"""Writes the items in one transaction; one outcome per item (None: committed; an exception: that item
failed alone). Raising fails the whole group."""

DEFAULT_MAX_GROUP = 256
"""Items per group at most (bounds a transaction's size and a statement's parameters)."""

PIPELINE_FROM = 16
"""Callers (queued, plus the items of the group just written) from which a group takes only half of them."""


OPTION = "group_commit"
"""The URL option (`?group_commit=off`) and `connect` keyword of both SQL backends."""

_SWITCH = {
    "on": True,
    "true": True,
    "1": True,
    "yes": True,
    "off": False,
    "false": False,
    "0": False,
    "no": False,
}


def parse_switch(value: str | bool | None, name: str = OPTION, default: bool = True) -> bool:
    """An on/off option's value: a bool as is, None as `default`, or on/off, true/false, 1/0, yes/no."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    found = _SWITCH.get(value.strip().lower())
    if found is None:
        raise CheckpointerError(f"{name} must be on or off (true/false, 1/0, yes/no), got {value!r}")
    return found


class GroupCommitClosed(CheckpointerError):
    """A save submitted after the checkpointer's group committer was closed."""


class GroupCommitter(Generic[T]):
    """Queue items and write them in groups (see the module doc). One per checkpointer connection."""

    def __init__(
        self,
        write_group: WriteGroup[T],
        *,
        enabled: bool = True,
        max_group: int = DEFAULT_MAX_GROUP,
        name: str = "group commit",
        pipeline: bool = True,
    ) -> None:
        if max_group < 1:
            raise ValueError(f"max_group must be at least 1, got {max_group}")
        self._write_group = write_group
        self.enabled = enabled
        self.max_group = max_group
        self._name = name
        self.pipeline = pipeline
        self._last = 0
        """Items of the group written last (with the queue: how many callers take turns)."""
        self._pending: list[tuple[T, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._leading = False
        """An idle committer's first item is being written in its caller's task."""
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False
        self.groups = 0
        """Transactions written so far (for tests and benchmarks)."""
        self.items = 0
        """Items handed to `write_group` so far."""

    @property
    def in_flight(self) -> bool:
        return self._leading or (self._writer is not None and not self._writer.done())

    async def submit(self, item: T) -> None:
        """Write `item`; returns once it is committed, raises what failed it (see the module doc)."""
        if self._closed:
            raise GroupCommitClosed(f"{self._name}: closed, cannot save any more")
        if not self.enabled:
            await self._write_alone(item)
            return
        if not self.in_flight:  # idle: write it at once, in this task (no hand-over to the writer task)
            self._leading = True
            self._idle.clear()
            try:
                await self._write_alone(item)
            finally:
                self._leading = False
                if self._pending:  # arrived meanwhile: they go together, in the writer task
                    self._writer = asyncio.create_task(self._drain(), name=self._name)
                else:
                    self._idle.set()
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (item, future)
        self._pending.append(entry)
        try:
            await future
        except asyncio.CancelledError:
            if entry in self._pending:  # not taken into a group yet: nothing of it gets written
                self._pending.remove(entry)
            raise

    async def _write_alone(self, item: T) -> None:
        self.groups += 1
        self.items += 1
        self._last = 1
        outcome = self._checked(await self._write_group([item]), 1)[0]
        if outcome is not None:
            raise outcome

    def _checked(self, outcomes: Sequence[BaseException | None], n: int) -> Sequence[BaseException | None]:
        if len(outcomes) != n:
            raise RuntimeError(f"{self._name}: write_group returned {len(outcomes)} outcomes for {n} items")
        return outcomes

    async def _drain(self) -> None:
        """Write groups while items wait; ends when the queue is empty."""
        self._idle.clear()
        try:
            await self._drain_groups()
        finally:
            if not self._leading:
                self._idle.set()

    async def _drain_groups(self) -> None:
        while self._pending:
            size = self._group_size()
            group = self._pending[:size]
            del self._pending[:size]
            items = [item for item, _ in group]
            self.groups += 1
            self.items += len(items)
            self._last = len(items)
            try:
                outcomes = self._checked(await self._write_group(items), len(items))
            except asyncio.CancelledError:
                for _, future in group:
                    if not future.done():
                        future.cancel()
                raise
            except Exception as exc:  # the transaction failed as a whole: the same error for everyone
                outcomes = [exc] * len(items)
            for (_, future), outcome in zip(group, outcomes, strict=True):
                if future.done():  # its caller was cancelled; the write happened (or failed) all the same
                    continue
                if outcome is None:
                    future.set_result(None)
                else:
                    future.set_exception(outcome)

    def _group_size(self) -> int:
        """How many queued items the next group takes: all (up to `max_group`), or with `pipeline` and
        many callers taking turns, half of those callers (see the module doc)."""
        queued = len(self._pending)
        callers = queued + self._last
        if not self.pipeline or callers < PIPELINE_FROM:
            return min(queued, self.max_group)
        return min(queued, self.max_group, (callers + 1) // 2)

    async def aclose(self) -> None:
        """Refuse new items and wait for the queued ones to be written."""
        self._closed = True
        while self.in_flight:
            writer = self._writer
            if writer is not None and not writer.done():
                await asyncio.shield(writer)
            else:
                await self._idle.wait()
