"""Python callables that test graph documents name (`tests.plugins.doc_callables:...`), for trust tests."""

from __future__ import annotations

from typing import Any

from engine.partial import NodePartial


def double(snapshot: Any, ctx: Any) -> NodePartial:
    """A plain (sync) node: extra["n"] doubled."""
    return NodePartial(extra={"n": int(snapshot.extra.get("n", 1)) * 2})


def big_enough(snapshot: Any) -> list[str]:
    """A predicate: loop through `double` until n >= 8."""
    return ["End"] if snapshot.extra.get("n", 0) >= 8 else ["double"]
