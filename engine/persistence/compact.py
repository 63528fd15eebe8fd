"""Compact storage: a step's state kept as the change from its parent step, a full snapshot every K steps.

A delta is a JSON object marked with `DELTA_KEY`; each channel keeps its version and either what was
appended (`append`) or, when the list changed otherwise, all its items (`items`); `extra` keeps the keys set
and deleted (`set`, `delete`), or the whole map (`map`) when its key order changed in a way a merge cannot
reproduce.
Applying the delta to the parent's state gives back exactly the state that was saved, key order included.
Pure functions on the state JSON of `serde.state_to_json`; the backends store the parent step in a column.

Compatibility: in a compact database `sessions.last_state_json` holds only `LATEST_MARKER`; the latest state
is rebuilt from the steps chain (at most K-1 deltas after a snapshot). Weavegraph 0.6 can therefore neither
read the history nor resume a compact database. `?storage=full` is the compatible mode (every row full, the
0.6 layout), and `weavegraph import` converts a session export between the two modes.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from typing import Any

from engine.persistence.errors import CheckpointDataError

DELTA_KEY = "weavegraph_delta"
STORAGE_MODES = ("compact", "full")
DEFAULT_SNAPSHOT_EVERY = 50
LATEST_MARKER = '{"weavegraph_compact":"the latest state is in steps"}'
"""What a compact database stores in `sessions.last_state_json` (never read as a state)."""

JsonDict = dict[str, Any]


def same(a: Any, b: Any) -> bool:
    """Strict JSON equality: 1, 1.0 and True differ, and so do 0.0 and -0.0 and differently ordered objects
    (their JSON texts differ). Compared in C: `==` first, then the texts of equal containers."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict | list):
        return bool(a == b) and json.dumps(a) == json.dumps(b)
    if isinstance(a, float):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return bool(a == b)


def default_mode() -> str:
    """The mode of new databases: `WEAVEGRAPH_STORAGE_MODE` ("compact" or "full") when set, else "compact"."""
    value = os.environ.get("WEAVEGRAPH_STORAGE_MODE", "").strip().lower()
    return value if value in STORAGE_MODES else "compact"


def is_delta(state_value: Any) -> bool:
    return isinstance(state_value, dict) and DELTA_KEY in state_value


def list_delta(parent: JsonDict, state: JsonDict, strings_only: bool = False) -> JsonDict:
    """A list channel's change: what was appended, or all its items when it changed otherwise."""
    before, after = parent["items"], state["items"]
    n = len(before)
    if len(after) < n:
        return {"version": state["version"], "items": after}
    # Message items hold only strings, for which == (compared in C) is already exact.
    if (before == after[:n]) if strings_only else same(before, after[:n]):
        return {"version": state["version"], "append": after[n:]}
    return {"version": state["version"], "items": after}


def extra_delta(parent: JsonDict, state: JsonDict) -> JsonDict:
    """The extra channel's change: keys set and deleted, or the whole map when its key order changed in a
    way a merge cannot reproduce."""
    before, after = parent["map"], state["map"]
    extra: JsonDict = {"version": state["version"]}
    merged_order = [k for k in before if k in after] + [k for k in after if k not in before]
    if merged_order != list(after):
        extra["map"] = after
    else:
        changed = {k: v for k, v in after.items() if k not in before or not same(before[k], v)}
        removed = [k for k in before if k not in after]
        if changed:
            extra["set"] = changed
        if removed:
            extra["delete"] = removed
    return extra


def make_delta(parent: JsonDict, state: JsonDict) -> JsonDict:
    """The delta that turns the state JSON `parent` into `state` (message items must hold only strings)."""
    return {
        DELTA_KEY: 1,
        "messages": list_delta(parent["messages"], state["messages"], strings_only=True),
        "extra": extra_delta(parent["extra"], state["extra"]),
        "errors": list_delta(parent["errors"], state["errors"]),
    }


def _apply_list(base: JsonDict, change: JsonDict) -> JsonDict:
    if "items" in change:
        return {"version": change["version"], "items": list(change["items"])}
    return {"version": change["version"], "items": [*base["items"], *change.get("append", [])]}


def apply_delta(base: JsonDict, delta: JsonDict) -> JsonDict:
    """The state JSON after `delta`; `base` is not modified."""
    change = delta["extra"]
    if "map" in change:
        extra_map = dict(change["map"])
    else:
        extra_map = {k: v for k, v in base["extra"]["map"].items() if k not in set(change.get("delete", ()))}
        extra_map.update(change.get("set", {}))
    return {
        "messages": _apply_list(base["messages"], delta["messages"]),
        "extra": {"version": change["version"], "map": extra_map},
        "errors": _apply_list(base["errors"], delta["errors"]),
    }


def resolve_state(
    session_id: str,
    step: int,
    value: Any,
    parent: int | None,
    fetch: Callable[[int], tuple[Any, int | None] | None],
    cache: dict[int, JsonDict] | None = None,
) -> JsonDict:
    """The full state JSON of `step`, following parent steps (read with `fetch(step) -> (state, parent)`)
    back to a full snapshot. `cache` (step -> full state) is read and filled."""
    if not is_delta(value):
        if cache is not None:
            cache[step] = value
        return dict(value)
    chain: list[tuple[int, JsonDict]] = [(step, value)]
    base: JsonDict | None = None
    current = parent
    while True:
        if current is None:
            raise CheckpointDataError(
                f"stored step {chain[-1][0]} of session '{session_id}' is a delta without a parent step"
            )
        if cache is not None and current in cache:
            base = cache[current]
            break
        row = fetch(current)
        if row is None:
            raise CheckpointDataError(
                f"step {chain[-1][0]} of session '{session_id}' needs step {current}, which is missing"
            )
        stored, grand = row
        if not is_delta(stored):
            base = stored
            if cache is not None:
                cache[current] = stored
            break
        chain.append((current, stored))
        current = grand
    for at, delta in reversed(chain):
        base = apply_delta(base, delta)
        if cache is not None:
            cache[at] = base
    return base
