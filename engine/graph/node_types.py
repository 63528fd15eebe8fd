"""The node-type registry: what a graph document's `type` names, each with a JSON Schema for its `config`.

Built-in types live in `engine.graph.builtin_types`; third-party packages add types through the entry point
group ``weavegraph.node_types`` (each entry point loads a `NodeTypeSpec` or a list of them).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError

from engine.graph.type_spec import ConfigProblem, NodeTypeSpec, TypeKind, json_path_join
from engine.types import JSON

__all__ = [
    "ENTRY_POINT_GROUP",
    "ConfigProblem",
    "NodeTypeRegistry",
    "NodeTypeSpec",
    "TypeKind",
    "builtin_registry",
    "default_registry",
    "document_order",
    "json_path_join",
    "schema_message",
]

log = logging.getLogger("engine.graph.node_types")

ENTRY_POINT_GROUP = "weavegraph.node_types"

_MAX_SHOWN = 80


def _json_type(value: JSON) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _shown(value: JSON) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def schema_message(error: ValidationError) -> str:
    """A short message for a schema error (jsonschema's own repeats the whole instance). A schema with a
    `pattern` may word its failure with `"x-error": "is not ..."`."""
    kind, expected, instance = error.validator, error.validator_value, error.instance
    if kind == "type":
        names = expected if isinstance(expected, list) else [expected]
        return f"expected {' or '.join(str(n) for n in names)}, got {_json_type(instance)}"
    if kind == "const":
        return f"must be {_shown(expected)}, got {_shown(instance)}"
    if kind == "enum":
        return f"must be one of {', '.join(_shown(v) for v in expected)}; got {_shown(instance)}"
    if kind == "minLength" and expected == 1:
        return "must not be empty"
    if kind == "minimum":
        return f"must be at least {expected}, got {_shown(instance)}"
    if kind == "exclusiveMinimum":
        return f"must be greater than {expected}, got {_shown(instance)}"
    if kind == "uniqueItems":
        return "must not list the same item twice"
    own = error.schema.get("x-error") if isinstance(error.schema, Mapping) else None
    if kind == "pattern" and isinstance(own, str):  # the schema words its own pattern failure
        return f"{_shown(instance)} {own}"
    if kind == "additionalProperties":
        return str(error.message).replace("Additional properties", "unknown field(s)")
    message = str(error.message)
    return message if len(message) <= 200 else message[:197] + "..."


def document_order(data: JSON, parts: Iterable[str | int]) -> tuple[int, ...]:
    """Where a path points in the document, as positions (keys in their order, items by index)."""
    out: list[int] = []
    node = data
    for part in parts:
        if isinstance(node, dict) and part in node:
            out.append(list(node).index(part))
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
        else:
            out.append(-1)  # a missing required key sorts before its siblings' contents
            break
    return tuple(out)


class NodeTypeRegistry:
    """Node and router types by name. Node types and router types are separate name spaces."""

    def __init__(self, specs: Iterable[NodeTypeSpec] = ()) -> None:
        self._types: dict[tuple[str, str], NodeTypeSpec] = {}
        self._validators: dict[tuple[str, str], Draft202012Validator] = {}
        self.load_errors: list[str] = []
        """Entry points that failed to load (the registry still works without them)."""
        for spec in specs:
            self.register(spec)

    def register(self, spec: NodeTypeSpec, *, replace: bool = False) -> None:
        """Add a type; ValueError for a duplicate name (unless `replace`) or an invalid config schema."""
        if not isinstance(spec, NodeTypeSpec):
            raise TypeError(f"expected a NodeTypeSpec, got {type(spec).__name__}")
        if spec.kind not in ("node", "router"):
            raise ValueError(f"node type '{spec.name}': kind must be 'node' or 'router', got {spec.kind!r}")
        key = (spec.kind, spec.name)
        if key in self._types and not replace:
            raise ValueError(f"{spec.kind} type '{spec.name}' is already registered")
        try:
            Draft202012Validator.check_schema(dict(spec.config_schema))
        except SchemaError as exc:
            raise ValueError(
                f"{spec.kind} type '{spec.name}' has an invalid config schema: {exc.message}"
            ) from exc
        self._types[key] = spec
        self._validators.pop(key, None)

    def get(self, name: str, kind: TypeKind = "node") -> NodeTypeSpec:
        """The type called `name`; KeyError naming the known types when there is none."""
        try:
            return self._types[(kind, name)]
        except KeyError:
            known = ", ".join(self.names(kind)) or "none"
            raise KeyError(f"unknown {kind} type '{name}' (known: {known})") from None

    def has(self, name: str, kind: TypeKind = "node") -> bool:
        return (kind, name) in self._types

    def names(self, kind: TypeKind = "node") -> list[str]:
        return sorted(name for k, name in self._types if k == kind)

    def node_types(self) -> list[NodeTypeSpec]:
        return [self._types[("node", n)] for n in self.names("node")]

    def router_types(self) -> list[NodeTypeSpec]:
        return [self._types[("router", n)] for n in self.names("router")]

    def validate_config(
        self, name: str, config: JSON, kind: TypeKind = "node", *, path: str = "$.config"
    ) -> list[tuple[str, str]]:
        """Problems of `config` for type `name` as (JSON path, message); [] when it fits."""
        spec = self.get(name, kind)
        key = (kind, name)
        validator = self._validators.get(key)
        if validator is None:
            validator = Draft202012Validator(dict(spec.config_schema))
            self._validators[key] = validator
        problems: list[tuple[str, str]] = []
        errors = sorted(validator.iter_errors(config), key=lambda e: document_order(config, e.absolute_path))
        for error in errors:
            problems.append((json_path_join(path, error.absolute_path), schema_message(error)))
        if not problems and spec.check is not None and isinstance(config, Mapping):
            for suffix, message in spec.check(config):
                problems.append((path + suffix, message))
        return problems

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> None:
        """Register every type published under the entry point `group`; failures go to `load_errors`."""
        for ep in metadata.entry_points(group=group):
            try:
                loaded = ep.load()
                specs = loaded if isinstance(loaded, list | tuple) else [loaded]
                for spec in specs:
                    if isinstance(spec, NodeTypeSpec) and spec.source == "builtin":
                        spec = _with_source(spec, f"entry point {ep.name} ({ep.value})")
                    self.register(spec)
            except Exception as exc:  # a broken plugin must not stop the engine
                message = f"entry point '{ep.name}' ({ep.value}) in group '{group}' failed to load: {exc}"
                log.warning(message)
                self.load_errors.append(message)


def _with_source(spec: NodeTypeSpec, source: str) -> NodeTypeSpec:
    from dataclasses import replace

    return replace(spec, source=source)


@dataclass(slots=True)
class _Cache:
    registry: NodeTypeRegistry | None = field(default=None)


_cache = _Cache()


def builtin_registry() -> NodeTypeRegistry:
    """A new registry with only the built-in types."""
    from engine.graph.builtin_ask import ASK_TYPE
    from engine.graph.builtin_routers import ROUTER_TYPES
    from engine.graph.builtin_types import NODE_TYPES

    return NodeTypeRegistry([*NODE_TYPES, ASK_TYPE, *ROUTER_TYPES])


def default_registry(*, reload: bool = False) -> NodeTypeRegistry:
    """The built-ins plus the types of the `weavegraph.node_types` entry points (cached; `reload` rescans)."""
    if _cache.registry is None or reload:
        registry = builtin_registry()
        registry.load_entry_points()
        _cache.registry = registry
    return _cache.registry
