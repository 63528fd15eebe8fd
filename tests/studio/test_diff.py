"""The pure per-channel checkpoint diff (studio/diff.py)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from engine.persistence.base import Checkpoint
from engine.persistence.serde import state_to_json
from engine.state import VersionedState
from engine.types import ErrorEvent, ErrorScope, Message, NodeKind, WeaveError
from studio.diff import ExtraChange, diff_checkpoints, diff_lines, diff_states, json_equal

WHEN = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _state(
    msgs: list[str], extra: dict[str, object], errors: int = 0, mv: int = 1, ev: int = 1
) -> VersionedState:
    errs = [
        ErrorEvent(WHEN, ErrorScope.for_node("A", i + 1), WeaveError(f"boom {i}"), ["node"], {})
        for i in range(errors)
    ]
    return VersionedState([Message.user(m) for m in msgs], dict(extra), errs, mv, ev)


def test_messages_extra_errors_added_removed_changed() -> None:
    old = _state(["hi"], {"a": 1, "b": "x", "gone": [1]}, errors=0)
    new = _state(["hi", "there"], {"a": 2, "b": "x", "new": {"k": True}}, errors=1, mv=2, ev=2)
    d = diff_states(old, new)
    assert [m.content for m in d.messages_added] == ["there"]
    assert d.messages_removed == ()
    assert d.extra_added == {"new": {"k": True}}
    assert d.extra_removed == {"gone": [1]}
    assert d.extra_changed == (ExtraChange("a", 1, 2),)
    assert [e.error.message for e in d.errors_added] == ["boom 0"]
    assert d.changed_channels == ["messages", "extra", "errors"]
    assert d.versions["messages"] == (1, 2)
    assert diff_lines(d) == [
        "+ messages: user: there",
        '+ extra.new: {"k":true}',
        "- extra.gone: [1]",
        "~ extra.a: 1 -> 2",
        "+ errors: [node A step 1] boom 0",
    ]


def test_identical_states_have_empty_diff_and_json_form_is_accepted() -> None:
    s = _state(["hi"], {"a": 1})
    d = diff_states(state_to_json(s), s)
    assert d.is_empty and d.changed_channels == [] and diff_lines(d) == []


def test_bool_and_int_are_different_values() -> None:
    d = diff_states(_state([], {"flag": 1}), _state([], {"flag": True}))
    assert d.extra_changed == (ExtraChange("flag", 1, True),)
    assert json_equal(1, 1.0) and not json_equal(1, "1") and not json_equal([1], {"0": 1})


def test_reversed_order_reports_removals() -> None:
    d = diff_states(_state(["a", "b"], {}), _state(["a"], {}))
    assert [m.content for m in d.messages_removed] == ["b"] and d.messages_added == ()


def test_checkpoint_diff_carries_steps_and_frontiers() -> None:
    a = Checkpoint("s", 1, _state(["hi"], {}), [NodeKind.custom("A")], {}, 1, WHEN)
    b = Checkpoint("s", 2, _state(["hi", "x"], {"n": 1}), [NodeKind.END], {}, 1, WHEN)
    d = diff_checkpoints(a, b)
    assert (d.old_step, d.new_step, d.old_frontier, d.new_frontier) == (1, 2, ("A",), ("End",))
    assert d.state.to_json_value()["extra"]["added"] == {"n": 1}


json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
json_values = st.recursive(
    json_scalars,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
    max_leaves=8,
)
extras = st.dictionaries(st.text(max_size=4), json_values, max_size=6)


@given(extras, extras)
def test_applying_the_diff_to_old_extra_gives_new_extra(
    old: dict[str, object], new: dict[str, object]
) -> None:
    d = diff_states(_state([], old), _state([], new))
    rebuilt = {k: v for k, v in old.items() if k not in d.extra_removed}
    rebuilt.update(d.extra_added)
    rebuilt.update({c.key: c.new for c in d.extra_changed})
    assert json_equal(rebuilt, new)
    assert not set(d.extra_added) & set(d.extra_removed)
