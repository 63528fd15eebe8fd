"""The built-in routers of conditional edges (route_if, route_by, python), each with the JSON Schema of its
config and the targets its config names."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from engine.graph.builtin_types import CALLABLE_SCHEMA, TARGETS_SCHEMA, config_schema, python_callable
from engine.graph.type_spec import NodeTypeSpec, json_path_join
from engine.types import JSON

if TYPE_CHECKING:
    from engine.state import StateSnapshot

ROUTE_IF_OPS = ("==", "!=", "<", "<=", ">", ">=", "exists")


_MISSING = object()


def compare(left: Any, op: str, right: Any) -> bool:
    """route_if's comparison: a missing left side is only "not existing"; incomparable types give False."""
    if op == "exists":
        return left is not _MISSING
    if left is _MISSING:
        return False
    try:
        if op == "==":
            return bool(left == right)
        if op == "!=":
            return bool(left != right)
        if op == "<":
            return bool(left < right)
        if op == "<=":
            return bool(left <= right)
        if op == ">":
            return bool(left > right)
        if op == ">=":
            return bool(left >= right)
    except TypeError:
        return False
    raise ValueError(f"unknown route_if op {op!r} (one of {', '.join(ROUTE_IF_OPS)})")


def _route_if(config: Mapping[str, JSON]) -> Any:
    key, op, value = str(config["key"]), str(config["op"]), config.get("value")
    then = [str(t) for t in config.get("then") or []]
    otherwise = [str(t) for t in config.get("else", ["End"]) or []]

    def route_if(snapshot: StateSnapshot) -> list[str]:
        left = snapshot.extra.get(key, _MISSING)
        return list(then if compare(left, op, value) else otherwise)

    return route_if


def _route_if_targets(config: Mapping[str, JSON]) -> list[str]:
    return _unique([*(config.get("then") or []), *(config.get("else", ["End"]) or [])])


def _case_key(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) or value is None:
        return json.dumps(value)
    return None


def _route_by(config: Mapping[str, JSON]) -> Any:
    key = str(config["key"])
    cases = {str(k): [str(t) for t in v] for k, v in dict(config.get("cases") or {}).items()}
    default = [str(t) for t in config.get("default", ["End"]) or []]

    def route_by(snapshot: StateSnapshot) -> list[str]:
        if key not in snapshot.extra:
            return list(default)
        case = _case_key(snapshot.extra[key])
        return list(cases.get(case, default)) if case is not None else list(default)

    return route_by


def _route_by_targets(config: Mapping[str, JSON]) -> list[str]:
    out: list[Any] = []
    for targets in dict(config.get("cases") or {}).values():
        out.extend(targets)
    out.extend(config.get("default", ["End"]) or [])
    return _unique(out)


def _unique(items: Sequence[Any]) -> list[str]:
    return list(dict.fromkeys(str(i) for i in items))


def router_config_targets(config: Mapping[str, JSON], kind: str) -> list[tuple[str, str]]:
    """(JSON path suffix, target) for every target a route_if / route_by config names."""
    out: list[tuple[str, str]] = []
    if kind == "route_if":
        for key in ("then", "else"):
            for i, t in enumerate(config.get(key) or []):
                out.append((f".{key}[{i}]", str(t)))
    elif kind == "route_by":
        for case, targets in dict(config.get("cases") or {}).items():
            for i, t in enumerate(targets):
                out.append((json_path_join("", ["cases", str(case), i]), str(t)))
        for i, t in enumerate(config.get("default") or []):
            out.append((f".default[{i}]", str(t)))
    return out


ROUTER_TYPES: list[NodeTypeSpec] = [
    NodeTypeSpec(
        "route_if",
        "router",
        "Route if",
        "Compares extra[key] with a value; routes to `then` when true, else to `else`.",
        config_schema(
            "Route if",
            {
                "key": {
                    "type": "string",
                    "title": "Key",
                    "description": "Extra key to test.",
                    "minLength": 1,
                },
                "op": {
                    "type": "string",
                    "title": "Operator",
                    "description": "A missing key only satisfies nothing ('exists' is false).",
                    "enum": list(ROUTE_IF_OPS),
                    "default": "==",
                },
                "value": {"title": "Value", "description": "Right-hand side (ignored by 'exists')."},
                "then": {**TARGETS_SCHEMA, "title": "Then", "default": []},
                "else": {**TARGETS_SCHEMA, "title": "Else", "default": ["End"]},
            },
            ["key", "op", "then"],
        ),
        _route_if,
        targets=_route_if_targets,
    ),
    NodeTypeSpec(
        "route_by",
        "router",
        "Route by value",
        "Routes by the value of extra[key]: the matching case, else `default`.",
        config_schema(
            "Route by value",
            {
                "key": {
                    "type": "string",
                    "title": "Key",
                    "description": "Extra key to switch on.",
                    "minLength": 1,
                },
                "cases": {
                    "type": "object",
                    "title": "Cases",
                    "description": "Value (as text; true/false/numbers as JSON) -> targets.",
                    "additionalProperties": TARGETS_SCHEMA,
                    "default": {},
                },
                "default": {**TARGETS_SCHEMA, "title": "Default", "default": ["End"]},
            },
            ["key", "cases"],
        ),
        _route_by,
        targets=_route_by_targets,
    ),
    NodeTypeSpec(
        "python",
        "router",
        "Python predicate",
        "Calls a predicate (snapshot) -> list of targets, imported from a module.",
        config_schema("Python predicate", {"callable": CALLABLE_SCHEMA}, ["callable"]),
        python_callable,
        imports_code=True,
    ),
]
