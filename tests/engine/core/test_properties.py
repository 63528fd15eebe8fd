"""Property tests: barrier laws and JSON round trips."""

from __future__ import annotations

import asyncio
import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import plan
from engine.graph.builder import GraphBuilder
from engine.partial import NodePartial
from engine.persistence.serde import state_from_json, state_to_json
from engine.reducers import DEFAULT_REDUCERS
from engine.runner import AppRunner
from engine.state import StateSnapshot, VersionedState
from engine.types import ErrorEvent, ErrorScope, Message, WeaveError

json_scalars = st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=5)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)
keys = st.sampled_from(["a", "b", "c", "d"])
messages = st.builds(Message, st.sampled_from(["user", "assistant", "critic"]), st.text(max_size=8))
partials = st.builds(
    NodePartial,
    messages=st.none() | st.lists(messages, max_size=3),
    extra=st.none() | st.dictionaries(keys, st.none() | json_values, max_size=3),
)
REDUCERS = {c: [r] for c, r in DEFAULT_REDUCERS.items()}


@given(st.lists(partials, min_size=1, max_size=5), st.lists(st.floats(0, 0.003), min_size=5, max_size=5))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_barrier_result_ignores_finishing_order(ps: list[NodePartial], delays: list[float]) -> None:
    """Nodes finishing in any order merge in frontier order: the same state as a sequential merge."""

    def make(p: NodePartial, delay: float):  # type: ignore[no-untyped-def]
        async def node(s: StateSnapshot, ctx: object) -> NodePartial:
            await asyncio.sleep(delay)
            return p

        return node

    b = GraphBuilder()
    for i, p in enumerate(ps):
        b.add_node(f"N{i}", make(p, delays[i])).add_edge("Start", f"N{i}").add_edge(f"N{i}", "End")

    async def run() -> VersionedState:
        async with await AppRunner.builder().app(b.compile()).autosave(False).build() as r:
            await r.create_session("s", VersionedState.new_with_user_message("hi"))
            return await r.run_until_complete("s")

    final = asyncio.run(run())
    expected = VersionedState.new_with_user_message("hi")
    plan.apply_barrier(expected, plan.merge_partials(ps), REDUCERS)
    assert final == expected


@given(st.dictionaries(keys, json_values, max_size=4), st.lists(partials, max_size=4))
@settings(max_examples=80, deadline=None)
def test_version_bump_laws(extra: dict[str, object], ps: list[NodePartial]) -> None:
    state = VersionedState([Message.user("x")], extra)
    before = state.copy()
    merged = plan.merge_partials(ps)
    updated = plan.apply_barrier(state, merged, REDUCERS)
    msg_changed = state.messages != before.messages
    extra_changed = state.extra != before.extra
    assert state.messages_version == before.messages_version + (1 if msg_changed else 0)
    assert state.extra_version == before.extra_version + (1 if extra_changed else 0)
    assert updated == [c for c, ch in (("messages", msg_changed), ("extra", extra_changed)) if ch]
    assert state.errors_version == before.errors_version
    assert all(k not in state.extra for k, v in (merged.extra or {}).items() if v is None)


errors = st.builds(
    ErrorEvent,
    st.datetimes(
        min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)
    ),
    st.one_of(
        st.builds(ErrorScope.for_node, st.text(min_size=1, max_size=4), st.integers(0, 99)),
        st.builds(ErrorScope.scheduler, st.integers(0, 99)),
        st.builds(ErrorScope.runner, st.text(max_size=4), st.integers(0, 99)),
        st.just(ErrorScope.app()),
    ),
    st.builds(WeaveError, st.text(max_size=8), st.none(), json_values),
    st.lists(st.text(max_size=4), max_size=2),
    json_values,
)


@given(
    st.lists(messages, max_size=4),
    st.dictionaries(st.text(max_size=4), json_values, max_size=4),
    st.lists(errors, max_size=3),
    st.integers(1, 50),
    st.integers(1, 50),
)
@settings(max_examples=80, deadline=None)
def test_state_json_round_trip(
    ms: list[Message], extra: dict[str, object], errs: list[ErrorEvent], mv: int, ev: int
) -> None:
    state = VersionedState(ms, extra, errs, mv, ev, 1)
    assert state_from_json(state_to_json(state)) == state


@given(st.lists(errors, min_size=2, max_size=6))
@settings(max_examples=50, deadline=None)
def test_merged_errors_are_sorted_by_scope_rank(errs: list[ErrorEvent]) -> None:
    merged = plan.merge_partials([NodePartial(errors=errs[:1]), NodePartial(errors=errs[1:])])
    ranks = [e.scope.rank for e in merged.errors or []]
    assert ranks == sorted(ranks)
