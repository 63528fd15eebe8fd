"""A tiny third-party node-type package: `shout` (upper-cases an extra key) and the `always` router."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.graph.node_types import NodeTypeSpec
from engine.partial import NodePartial


def _shout(config: Mapping[str, Any]) -> Any:
    key = str(config["key"])

    async def shout(snapshot: Any, ctx: Any) -> NodePartial:
        return NodePartial(extra={key: str(snapshot.extra.get(key, "")).upper()})

    return shout


def _always(config: Mapping[str, Any]) -> Any:
    targets = [str(t) for t in config["to"]]
    return lambda snapshot: list(targets)


SHOUT = NodeTypeSpec(
    "shout",
    "node",
    "Shout",
    "Upper-cases extra[key].",
    {"type": "object", "properties": {"key": {"type": "string", "default": "text"}}, "required": ["key"]},
    _shout,
)

SPECS = [
    NodeTypeSpec(
        "always",
        "router",
        "Always",
        "Routes to the same targets every time.",
        {
            "type": "object",
            "properties": {"to": {"type": "array", "items": {"type": "string"}}},
            "required": ["to"],
        },
        _always,
        targets=lambda config: [str(t) for t in config["to"]],
    ),
]
