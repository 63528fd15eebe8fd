"""The backend-agnostic group committer (engine/persistence/group.py), against a small transactional store
written here (a dict with an all-or-nothing group write): grouping, per-item failures, whole-group
failures, cancellation and the disabled mode. The SQL backends' use of it is tested in test_group_sqlite."""

from __future__ import annotations

import asyncio

import pytest

from engine.errors import CheckpointConflict, CheckpointerError
from engine.persistence.group import GroupCommitClosed, GroupCommitter, parse_switch

Item = tuple[str, int, int | None]  # session, step, expected last step


class Store:
    """Sessions' latest steps; `write_group` applies a group all-or-nothing, checking each item's
    expected step against the state left by the items before it (as inside one transaction)."""

    def __init__(self) -> None:
        self.latest: dict[str, int] = {}
        self.groups: list[list[Item]] = []
        self.fail_at: dict[int, Exception] = {}
        """Group number (0-based) -> the error its transaction fails with."""
        self.gate: asyncio.Event | None = None

    async def write_group(self, items: list[Item]) -> list[BaseException | None]:
        self.groups.append(list(items))
        if self.gate is not None:
            await self.gate.wait()
        await asyncio.sleep(0)
        failure = self.fail_at.get(len(self.groups) - 1)
        if failure is not None:
            raise failure
        staged = dict(self.latest)
        out: list[BaseException | None] = []
        for sid, step, expected in items:
            actual = staged.get(sid)
            if expected is not None and actual != expected:
                out.append(CheckpointConflict(sid, expected, actual))
                continue
            staged[sid] = step
            out.append(None)
        self.latest = staged
        return out


async def test_first_item_is_written_at_once_and_newcomers_go_together() -> None:
    store = Store()
    store.gate = asyncio.Event()
    gc: GroupCommitter[Item] = GroupCommitter(store.write_group)
    first = asyncio.create_task(gc.submit(("a", 0, None)))
    await asyncio.sleep(0.01)
    assert store.groups == [[("a", 0, None)]]  # in flight alone
    rest = [asyncio.create_task(gc.submit((f"s{i}", 0, None))) for i in range(5)]
    await asyncio.sleep(0.01)
    assert not any(t.done() for t in [first, *rest])  # nothing returns before its commit
    store.gate.set()
    await asyncio.gather(first, *rest)
    assert [len(g) for g in store.groups] == [1, 5]
    assert gc.groups == 2 and gc.items == 6
    assert store.latest == {"a": 0, **{f"s{i}": 0 for i in range(5)}}


async def test_a_conflict_fails_alone_and_the_rest_of_its_group_commits() -> None:
    store = Store()
    store.latest = {"a": 3, "b": 1}
    store.gate = asyncio.Event()
    gc: GroupCommitter[Item] = GroupCommitter(store.write_group)
    blocker = asyncio.create_task(gc.submit(("z", 0, None)))
    await asyncio.sleep(0.01)
    good = asyncio.create_task(gc.submit(("a", 4, 3)))
    bad = asyncio.create_task(gc.submit(("b", 2, 0)))  # b is at 1
    same_twice = asyncio.create_task(gc.submit(("a", 4, 3)))  # a is at 4 once `good` is applied
    store.gate.set()
    await asyncio.wait_for(asyncio.gather(blocker, good, return_exceptions=True), 5)
    results = await asyncio.gather(bad, same_twice, return_exceptions=True)
    assert good.result() is None
    assert isinstance(results[0], CheckpointConflict) and results[0].actual == 1
    assert isinstance(results[1], CheckpointConflict) and results[1].actual == 4
    assert store.groups[1] == [("a", 4, 3), ("b", 2, 0), ("a", 4, 3)]
    assert store.latest == {"a": 4, "b": 1, "z": 0}


async def test_a_failing_transaction_fails_every_caller_alike_and_the_next_group_starts_clean() -> None:
    store = Store()
    store.gate = asyncio.Event()
    gc: GroupCommitter[Item] = GroupCommitter(store.write_group)
    blocker = asyncio.create_task(gc.submit(("z", 0, None)))
    await asyncio.sleep(0.01)
    doomed = [asyncio.create_task(gc.submit((f"s{i}", 0, None))) for i in range(4)]
    await asyncio.sleep(0.01)
    store.fail_at[1] = OSError(28, "No space left on device")
    store.gate.set()
    await blocker
    errors = await asyncio.gather(*doomed, return_exceptions=True)
    assert all(isinstance(e, OSError) for e in errors)
    assert len({id(e) for e in errors}) == 1  # the very same error for every caller of the group
    assert "s0" not in store.latest
    await gc.submit(("s0", 0, None))  # the next group works
    assert store.latest["s0"] == 0


async def test_a_cancelled_waiter_is_not_written_but_its_group_mates_are() -> None:
    store = Store()
    store.gate = asyncio.Event()
    gc: GroupCommitter[Item] = GroupCommitter(store.write_group)
    blocker = asyncio.create_task(gc.submit(("z", 0, None)))
    await asyncio.sleep(0.01)
    kept = asyncio.create_task(gc.submit(("k", 0, None)))
    dropped = asyncio.create_task(gc.submit(("d", 0, None)))
    await asyncio.sleep(0.01)
    dropped.cancel()
    store.gate.set()
    await asyncio.gather(blocker, kept)
    with pytest.raises(asyncio.CancelledError):
        await dropped
    assert "d" not in store.latest and store.latest["k"] == 0


async def test_max_group_bounds_a_group() -> None:
    store = Store()
    store.gate = asyncio.Event()
    gc: GroupCommitter[Item] = GroupCommitter(store.write_group, max_group=3)
    tasks = [asyncio.create_task(gc.submit((f"s{i}", 0, None))) for i in range(8)]
    await asyncio.sleep(0.01)
    store.gate.set()
    await asyncio.gather(*tasks)
    assert [len(g) for g in store.groups] == [1, 3, 3, 1]  # the first goes at once, alone


async def test_disabled_writes_each_item_alone_in_the_callers_task() -> None:
    store = Store()
    store.latest = {"a": 0}
    gc: GroupCommitter[Item] = GroupCommitter(store.write_group, enabled=False)
    await asyncio.gather(*(gc.submit((f"s{i}", 0, None)) for i in range(4)))
    assert [len(g) for g in store.groups] == [1, 1, 1, 1]
    with pytest.raises(CheckpointConflict):
        await gc.submit(("a", 2, 1))


async def test_the_first_item_is_written_in_its_callers_task_and_close_waits_for_it() -> None:
    store = Store()
    store.gate = asyncio.Event()
    gc: GroupCommitter[Item] = GroupCommitter(store.write_group)
    lead = asyncio.create_task(gc.submit(("a", 0, None)))
    await asyncio.sleep(0.01)
    assert gc.in_flight and gc._writer is None  # no writer task for an idle committer's first item
    closing = asyncio.create_task(gc.aclose())
    await asyncio.sleep(0.01)
    assert not closing.done()
    store.gate.set()
    await asyncio.gather(lead, closing)
    assert store.latest == {"a": 0} and not gc.in_flight


async def test_closed_committer_refuses_and_close_waits_for_the_queue() -> None:
    store = Store()
    store.gate = asyncio.Event()
    gc: GroupCommitter[Item] = GroupCommitter(store.write_group)
    waiting = asyncio.create_task(gc.submit(("a", 0, None)))
    await asyncio.sleep(0.01)
    closing = asyncio.create_task(gc.aclose())
    await asyncio.sleep(0.01)
    assert not closing.done()
    store.gate.set()
    await asyncio.gather(waiting, closing)
    assert store.latest == {"a": 0}
    with pytest.raises(GroupCommitClosed, match="closed"):
        await gc.submit(("b", 0, None))


async def test_a_write_group_returning_the_wrong_number_of_outcomes_fails_the_group() -> None:
    async def broken(items: list[Item]) -> list[BaseException | None]:
        return []

    gc: GroupCommitter[Item] = GroupCommitter(broken)
    with pytest.raises(RuntimeError, match="0 outcomes for 1 items"):
        await gc.submit(("a", 0, None))


def test_max_group_must_be_positive() -> None:
    async def write(items: list[Item]) -> list[BaseException | None]:
        return [None] * len(items)

    with pytest.raises(ValueError, match="max_group must be at least 1, got 0"):
        GroupCommitter(write, max_group=0)


def test_parse_switch() -> None:
    assert parse_switch(None) is True and parse_switch(None, default=False) is False
    assert parse_switch(False) is False
    assert [parse_switch(v) for v in ("on", "TRUE", "1", "yes")] == [True] * 4
    assert [parse_switch(v) for v in ("off", "false", "0", "No")] == [False] * 4
    with pytest.raises(CheckpointerError, match=r"group_commit must be on or off .*got 'maybe'"):
        parse_switch("maybe")
