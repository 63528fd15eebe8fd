"""High-level editing operations: each checks its input, builds one command and pushes it on the model's
undo stack (gestures, the palette and the properties panel call these, never the model's mutators)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from typing import Any

from engine.graph.layout import layered_layout
from studio.document.commands import (
    AddConditionalEdgeCommand,
    AddNodeCommand,
    ChangeConditionalEdgeCommand,
    ChangeNodeCommand,
    ConnectCommand,
    DisconnectCommand,
    MoveNodesCommand,
    PasteCommand,
    RemoveItemsCommand,
    SetDocumentFieldCommand,
    fragment_of,
    macro,
)
from studio.document.model import VIRTUAL_NODES, GraphDocumentModel, JSONDict

__all__ = ["DocumentEditor", "EditRejected"]


def _check_policies(model: GraphDocumentModel, node_id: str, fields: Mapping[str, Any]) -> None:
    from engine.policies import RetryPolicy

    retry = fields.get("retry")
    if retry is not None:
        try:
            problems = (
                RetryPolicy.from_json(retry).problems() if isinstance(retry, Mapping) else ["not an object"]
            )
        except (TypeError, ValueError) as exc:
            problems = [str(exc)]
        if problems:
            raise EditRejected(f"node '{node_id}' retry: {'; '.join(problems)}")
    timeout = fields.get("timeout_s")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
    ):
        raise EditRejected(
            f"node '{node_id}' timeout_s: must be a positive number of seconds, got {timeout!r}"
        )
    wait_for = fields.get("wait_for")
    if wait_for is not None:
        if not isinstance(wait_for, list):
            raise EditRejected(f"node '{node_id}' wait_for: must be a list of node ids")
        for other in wait_for:
            if other == node_id or not model.has_node(str(other)) or other in VIRTUAL_NODES:
                raise EditRejected(f"node '{node_id}' wait_for: '{other}' is not another node of the graph")


class EditRejected(ValueError):
    """An edit that would make the document wrong in an obvious way (shown to the user, nothing changes)."""


def _router_targets(cond: Mapping[str, Any]) -> list[str]:
    targets = cond.get("targets")
    if isinstance(targets, list):
        return [str(t) for t in targets]
    config = (cond.get("router") or {}).get("config") or {}
    found: list[str] = []
    for key in ("then", "else", "default"):
        if isinstance(config.get(key), list):
            found += [str(t) for t in config[key]]
    cases = config.get("cases")
    if isinstance(cases, dict):
        for value in cases.values():
            if isinstance(value, list):
                found += [str(t) for t in value]
    return list(dict.fromkeys(found))


class DocumentEditor:
    """Edits one `GraphDocumentModel`; every method that changes something pushes exactly one undo step."""

    def __init__(self, model: GraphDocumentModel, registry: Any = None) -> None:
        self.model = model
        self._registry = registry

    @property
    def registry(self) -> Any:
        if self._registry is None:
            from engine.graph.node_types import default_registry

            self._registry = default_registry()
        return self._registry

    def _check_writable(self) -> None:
        if self.model.read_only:
            raise EditRejected(f"the document is read-only: {self.model.read_only_reason or 'open a copy'}")

    # ------------------------------------------------------------------ nodes

    def add_node(
        self, type_name: str, position: tuple[float, float], *, node_id: str | None = None, config: Any = None
    ) -> str:
        """Add a node of `type_name` with its default config; returns its id."""
        self._check_writable()
        if config is None:
            spec = self.registry.get(type_name)
            config = spec.default_config()
        new_id = node_id or self.model.unique_id(type_name)
        if self.model.has_node(new_id):
            raise EditRejected(f"a node called '{new_id}' already exists")
        node = {"id": new_id, "type": type_name, "config": config, "position": [position[0], position[1]]}
        self.model.undo_stack.push(AddNodeCommand(self.model, node))
        return new_id

    def delete(
        self,
        node_ids: Iterable[str] = (),
        edges: Iterable[tuple[str, str]] = (),
        conditional_uids: Iterable[int] = (),
    ) -> bool:
        """Delete the items (and what hangs on deleted nodes); False when there was nothing to delete."""
        self._check_writable()
        command = RemoveItemsCommand(self.model, node_ids, edges, conditional_uids)
        if command.text() == "Delete 0 items":
            return False
        self.model.undo_stack.push(command)
        return True

    def move(self, moves: Mapping[str, tuple[tuple[float, float] | None, tuple[float, float]]]) -> None:
        changed = {k: v for k, v in moves.items() if v[0] is None or _far(v[0], v[1])}
        if changed and not self.model.read_only:
            self.model.undo_stack.push(MoveNodesCommand(self.model, changed))

    def change_node(
        self,
        node_id: str,
        *,
        new_id: str | None = None,
        new_type: str | None = None,
        new_config: JSONDict | None = None,
    ) -> None:
        """Rename and/or retype and/or reconfigure a node (one undo step); raises EditRejected for bad ids."""
        self._check_writable()
        node = self.model.node(node_id)
        if new_id is not None and new_id != node_id:
            clean = new_id.strip()
            if not clean:
                raise EditRejected("a node id cannot be empty")
            if clean in VIRTUAL_NODES:
                raise EditRejected(f"'{clean}' is reserved for the virtual node; choose another id")
            if self.model.has_node(clean):
                raise EditRejected(f"a node called '{clean}' already exists")
            new_id = clean
        else:
            new_id = None
        if new_type == node.get("type"):
            new_type = None
        if new_type is not None and new_config is None:
            new_config = self.registry.get(new_type).default_config()
        if new_config is not None and new_config == node.get("config") and new_type is None:
            new_config = None
        if new_id is None and new_type is None and new_config is None:
            return
        self.model.undo_stack.push(
            ChangeNodeCommand(self.model, node_id, new_id=new_id, new_type=new_type, new_config=new_config)
        )

    def set_node_policies(self, node_id: str, **fields: Any) -> None:
        """Set (or with None remove) a node's `retry`, `timeout_s` and `wait_for` as one undo step; the
        changed document is validated like every edit (EditRejected names a bad value)."""
        from studio.document.commands import POLICY_FIELDS

        self._check_writable()
        unknown = sorted(set(fields) - set(POLICY_FIELDS))
        if unknown:
            raise EditRejected(f"not a node policy: {', '.join(unknown)} (use {', '.join(POLICY_FIELDS)})")
        _check_policies(self.model, node_id, fields)
        node = self.model.node(node_id)
        changed = {k: v for k, v in fields.items() if node.get(k) != v}
        if not changed:
            return
        self.model.undo_stack.push(
            ChangeNodeCommand(self.model, node_id, new_fields=changed, text=f"Edit policies of {node_id}")
        )

    # ------------------------------------------------------------------ edges

    def connect(self, src: str, dst: str) -> None:
        """Add the edge src -> dst; raises EditRejected with the reason when it cannot exist."""
        self._check_writable()
        if src == "End":
            raise EditRejected("End is terminal: no edge can leave it")
        if dst == "Start":
            raise EditRejected("no edge can enter Start")
        if src == dst:
            raise EditRejected(f"'{src}' cannot connect to itself (loops go through a conditional edge)")
        for name in (src, dst):
            if not self.model.has_node(name):
                raise EditRejected(f"no node called '{name}'")
        if self.model.has_edge(src, dst):
            raise EditRejected(f"the edge {src} -> {dst} exists already")
        self.model.undo_stack.push(ConnectCommand(self.model, src, dst))

    def disconnect(self, src: str, dst: str) -> None:
        self._check_writable()
        self.model.undo_stack.push(DisconnectCommand(self.model, src, dst))

    def add_conditional_edge(
        self, src: str, router_type: str, config: JSONDict, targets: list[str] | None = None
    ) -> int:
        self._check_writable()
        cond: JSONDict = {"from": src, "router": {"type": router_type, "config": copy.deepcopy(config)}}
        if targets is not None:
            cond["targets"] = list(targets)
        command = AddConditionalEdgeCommand(self.model, cond)
        self.model.undo_stack.push(command)
        return command.uid

    def change_conditional_edge(self, uid: int, cond: JSONDict) -> None:
        self._check_writable()
        if cond != self.model.conditional_edge(uid):
            self.model.undo_stack.push(ChangeConditionalEdgeCommand(self.model, uid, cond))

    def set_field(self, key: str, value: Any) -> None:
        self._check_writable()
        if self.model.data.get(key) != value:
            self.model.undo_stack.push(SetDocumentFieldCommand(self.model, key, value))

    # ------------------------------------------------------------------ clipboard, layout

    def copy_text(self, node_ids: Iterable[str]) -> str:
        """The selected nodes (and the edges among them) as JSON text for the clipboard."""
        return json.dumps(fragment_of(self.model, list(node_ids)), indent=2, ensure_ascii=False)

    def paste_text(self, text: str, offset: tuple[float, float] = (40.0, 40.0)) -> list[str]:
        """Paste a fragment (or a whole document) from JSON text; returns the new node ids."""
        self._check_writable()
        try:
            fragment = json.loads(text)
        except json.JSONDecodeError as exc:
            raise EditRejected(
                f"the clipboard holds no graph fragment (line {exc.lineno}: {exc.msg})"
            ) from exc
        if not isinstance(fragment, dict) or not isinstance(fragment.get("nodes"), list):
            raise EditRejected('the clipboard holds JSON but not a graph fragment (no "nodes" list)')
        command = PasteCommand(self.model, fragment, offset)
        if not command.pasted_ids:
            raise EditRejected("the clipboard fragment has no nodes")
        self.model.undo_stack.push(command)
        return command.pasted_ids

    def layout_edges(self) -> list[tuple[str, str]]:
        edges = list(self.model.edges())
        for _uid, cond in self.model.conditional_edges():
            edges += [(str(cond.get("from")), t) for t in _router_targets(cond)]
        return edges

    def auto_layout(self, origin: tuple[float, float] = (0.0, 0.0)) -> None:
        """Lay every node out in layers (one undo step, a macro of moves)."""
        self._check_writable()
        positions = layered_layout(self.model.node_ids(), self.layout_edges())
        moves: dict[str, tuple[tuple[float, float] | None, tuple[float, float]]] = {}
        for node_id, (x, y) in positions.items():
            new = (x + origin[0], y + origin[1])
            old = self.model.position(node_id)
            if old is None or _far(old, new):
                moves[node_id] = (old, new)
        if not moves:
            return
        with macro(self.model.undo_stack, "Auto layout"):
            self.model.undo_stack.push(MoveNodesCommand(self.model, moves, "Auto layout"))


def _far(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return abs(a[0] - b[0]) > 0.01 or abs(a[1] - b[1]) > 0.01


router_targets = _router_targets
