"""The group committer's pipeline (issue 20): with many callers taking turns, a group takes half of them, so
one half's callers run while the other half's transaction is written; with few callers, or `pipeline=False`,
a group takes everything queued. Every item still returns only once its own group is written."""

from __future__ import annotations

import asyncio

from engine.persistence.group import PIPELINE_FROM, GroupCommitter
from tests.engine.persistence.test_group import Item, Store


class SlowStore(Store):
    """A transaction that takes longer than a caller's step (as a real commit does)."""

    async def write_group(self, items: list[Item]) -> list[BaseException | None]:
        await asyncio.sleep(0.002)
        return await super().write_group(items)


async def _sessions(gc: GroupCommitter[Item], store: Store, sessions: int, turns: int) -> None:
    """`sessions` callers, each saving `turns` steps one after the other (as sessions of one runner do),
    checking that each of its saves is in the store when `submit` returns."""

    async def one(i: int) -> None:
        for step in range(turns):
            expected = step - 1 if step else None
            await gc.submit((f"s{i}", step, expected))
            assert store.latest[f"s{i}"] == step  # written when submit returned
            await asyncio.sleep(0)  # the session's next step

    await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(sessions))), 30)


async def test_many_callers_settle_into_two_groups_of_half_each() -> None:
    store = SlowStore()
    gc: GroupCommitter[Item] = GroupCommitter(store.write_group)
    await _sessions(gc, store, 50, 12)
    sizes = [len(g) for g in store.groups]
    assert sizes[0] == 1  # the first save of an idle committer goes at once, alone
    assert max(sizes) <= 25
    steady = sizes[4:-4]
    assert steady and all(20 <= n <= 25 for n in steady), sizes
    assert sum(sizes) == 50 * 12 and gc.items == 50 * 12
    assert store.latest == {f"s{i}": 11 for i in range(50)}
    for group in store.groups:  # a group never holds a session twice: each waits for its last save
        assert len({sid for sid, _, _ in group}) == len(group)


async def test_without_pipeline_a_group_takes_everything_queued() -> None:
    store = SlowStore()
    gc: GroupCommitter[Item] = GroupCommitter(store.write_group, pipeline=False)
    await _sessions(gc, store, 50, 6)
    sizes = [len(g) for g in store.groups]
    assert max(sizes) >= 49, sizes  # the first caller back alone, then all the others together
    assert store.latest == {f"s{i}": 5 for i in range(50)}


async def test_few_callers_are_not_split() -> None:
    store = Store()
    store.gate = asyncio.Event()
    gc: GroupCommitter[Item] = GroupCommitter(store.write_group)
    first = asyncio.create_task(gc.submit(("a", 0, None)))
    await asyncio.sleep(0.01)
    n = PIPELINE_FROM - 2  # with the one in flight, fewer callers than PIPELINE_FROM
    rest = [asyncio.create_task(gc.submit((f"s{i}", 0, None))) for i in range(n)]
    await asyncio.sleep(0.01)
    store.gate.set()
    await asyncio.gather(first, *rest)
    assert [len(g) for g in store.groups] == [1, n]


async def test_a_burst_of_many_is_split_in_two_and_both_halves_commit() -> None:
    store = Store()
    store.gate = asyncio.Event()
    gc: GroupCommitter[Item] = GroupCommitter(store.write_group)
    first = asyncio.create_task(gc.submit(("a", 0, None)))
    await asyncio.sleep(0.01)
    rest = [asyncio.create_task(gc.submit((f"s{i}", 0, None))) for i in range(39)]
    await asyncio.sleep(0.01)
    assert not any(t.done() for t in rest)
    store.gate.set()
    await asyncio.gather(first, *rest)
    assert [len(g) for g in store.groups] == [1, 20, 19]  # 40 callers: half, then the rest
    assert len(store.latest) == 40
