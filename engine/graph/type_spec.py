"""`NodeTypeSpec`, what one node or router type of a graph document is, and the JSON-path helper the types'
config checks share. The registry (`engine.graph.node_types`) and the built-in types both build on this."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from engine.graph.doc_limits import quoted_key
from engine.types import JSON

TypeKind = Literal["node", "router"]

ConfigProblem = tuple[str, str]
"""(JSON path suffix like ".content" or "[0]" relative to the config, message)."""


@dataclass(frozen=True, slots=True)
class NodeTypeSpec:
    """One node or router type.

    `factory(config)` returns the node (kind "node": a callable `(snapshot, ctx)`) or the predicate (kind
    "router": a callable `(snapshot) -> list[str]`). `targets(config)` lists the targets a router can return
    when its config says so (route_if, route_by), else None. `check(config)` reports problems the JSON Schema
    cannot express. `imports_code` marks types that import Python code named in the config (trust needed).
    """

    name: str
    kind: TypeKind
    title: str
    description: str
    config_schema: Mapping[str, JSON]
    factory: Callable[[Mapping[str, JSON]], Any]
    targets: Callable[[Mapping[str, JSON]], list[str] | None] | None = None
    check: Callable[[Mapping[str, JSON]], list[ConfigProblem]] | None = None
    imports_code: bool = False
    source: str = "builtin"

    def default_config(self) -> dict[str, JSON]:
        """The config filled with every property default of the schema (for a freshly added node)."""
        props = self.config_schema.get("properties", {})
        out: dict[str, JSON] = {}
        if isinstance(props, Mapping):
            for key, sub in props.items():
                if isinstance(sub, Mapping) and "default" in sub:
                    out[key] = _json_clone(sub["default"])
        return out


def _json_clone(value: JSON) -> JSON:
    if isinstance(value, dict):
        return {k: _json_clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_clone(v) for v in value]
    return value


def json_path_join(base: str, parts: Iterable[str | int]) -> str:
    """`$.nodes[2].config` + ["values", 0] -> `$.nodes[2].config.values[0]` (odd keys are quoted)."""
    out = base
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier():
            out += f".{part}"
        else:
            out += f"[{quoted_key(part)}]"
    return out
