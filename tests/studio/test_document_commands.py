"""Every undo command, without widgets: redo/undo round trips restore the document dict exactly, and the
model's signals tell a listener what changed."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

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
)
from studio.document.editor import DocumentEditor, EditRejected
from studio.document.model import GraphDocumentModel


def sample() -> dict[str, Any]:
    return {
        "format": "weavegraph.graph",
        "version": 1,
        "name": "sample",
        "x-unknown": {"kept": True},
        "nodes": [
            {"id": "A", "type": "message", "config": {"content": "a"}, "position": [0, 0]},
            {"id": "B", "type": "set", "config": {"values": {"k": 1}}, "position": [200, 0]},
            {"id": "C", "type": "accumulate", "config": {"key": "tick", "into": "sum"}, "position": [400, 0]},
        ],
        "edges": [{"from": "Start", "to": "A"}, {"from": "A", "to": "B"}, {"from": "C", "to": "End"}],
        "conditional_edges": [
            {
                "from": "B",
                "router": {
                    "type": "route_if",
                    "config": {"key": "k", "op": "<", "value": 3, "then": ["A"], "else": ["C"]},
                },
                "targets": ["A", "C"],
            }
        ],
    }


@pytest.fixture
def model(qapp: Any) -> GraphDocumentModel:
    m = GraphDocumentModel()
    m.reset(sample())
    return m


def round_trip(model: GraphDocumentModel, command: Any) -> None:
    before = copy.deepcopy(model.data)
    model.undo_stack.push(command)
    after = copy.deepcopy(model.data)
    assert after != before, "the command changed nothing"
    model.undo_stack.undo()
    assert model.data == before
    model.undo_stack.redo()
    assert model.data == after
    model.undo_stack.undo()
    assert model.data == before
    assert json.dumps(model.data, sort_keys=True) == json.dumps(before, sort_keys=True)


def uid0(model: GraphDocumentModel) -> int:
    return model.conditional_edges()[0][0]


def test_add_node(model: GraphDocumentModel) -> None:
    round_trip(
        model, AddNodeCommand(model, {"id": "D", "type": "delay", "config": {"ms": 1}, "position": [1, 2]})
    )


def test_remove_node_takes_its_edges_and_conditional_edges(model: GraphDocumentModel) -> None:
    command = RemoveItemsCommand(model, ["B"])
    model.undo_stack.push(command)
    assert model.node_ids() == ["A", "C"]
    assert model.edges() == [("Start", "A"), ("C", "End")]
    assert model.conditional_edges() == []
    model.undo_stack.undo()
    assert model.data == sample()
    round_trip(model, RemoveItemsCommand(model, ["A", "C"], [("A", "B")]))


def test_remove_edges_and_conditional_edges_only(model: GraphDocumentModel) -> None:
    round_trip(model, RemoveItemsCommand(model, (), [("Start", "A"), ("C", "End")], [uid0(model)]))


def test_move_nodes_including_virtual(model: GraphDocumentModel) -> None:
    round_trip(model, MoveNodesCommand(model, {"A": ((0, 0), (10, 20)), "Start": (None, (-200, 0))}))


def test_connect_and_disconnect(model: GraphDocumentModel) -> None:
    round_trip(model, ConnectCommand(model, "B", "C"))
    round_trip(model, DisconnectCommand(model, "A", "B"))


def test_change_config_type_and_rename(model: GraphDocumentModel) -> None:
    round_trip(model, ChangeNodeCommand(model, "A", new_config={"content": "changed"}))
    round_trip(model, ChangeNodeCommand(model, "A", new_type="delay", new_config={"ms": 5}))
    command = ChangeNodeCommand(model, "C", new_id="Sum")
    model.undo_stack.push(command)
    assert ("Sum", "End") in model.edges()
    cond = model.conditional_edges()[0][1]
    assert cond["targets"] == ["A", "Sum"] and cond["router"]["config"]["else"] == ["Sum"]
    model.undo_stack.undo()
    assert model.data == sample()
    round_trip(model, ChangeNodeCommand(model, "B", new_id="B2"))  # renames a conditional-edge source


def test_conditional_edge_commands(model: GraphDocumentModel) -> None:
    round_trip(
        model,
        AddConditionalEdgeCommand(
            model, {"from": "A", "router": {"type": "route_by", "config": {"key": "m", "cases": {}}}}
        ),
    )
    changed = copy.deepcopy(model.conditional_edge(uid0(model)))
    changed["targets"] = ["A"]
    round_trip(model, ChangeConditionalEdgeCommand(model, uid0(model), changed))


def test_paste_renames_clashing_ids(model: GraphDocumentModel) -> None:
    editor = DocumentEditor(model)
    text = editor.copy_text(["A", "B"])
    command = PasteCommand(model, json.loads(text))
    assert command.pasted_ids == ["A_1", "B_1"]
    model.undo_stack.push(command)
    assert ("A_1", "B_1") in model.edges()
    assert model.node("A_1")["position"] == [40.0, 40.0]
    assert model.conditional_edges()[-1][1]["from"] == "B_1"
    assert model.conditional_edges()[-1][1]["router"]["config"]["then"] == ["A_1"]
    model.undo_stack.undo()
    assert model.data == sample()
    round_trip(model, PasteCommand(model, json.loads(text)))


def test_set_document_field(model: GraphDocumentModel) -> None:
    round_trip(model, SetDocumentFieldCommand(model, "runtime", {"max_steps": 5}))
    round_trip(model, SetDocumentFieldCommand(model, "name", "renamed"))


def test_auto_layout_is_one_undo_step(model: GraphDocumentModel) -> None:
    editor = DocumentEditor(model)
    editor.auto_layout()
    assert model.undo_stack.count() == 1
    xs = {n: model.position(n)[0] for n in ["Start", "A", "B", "C", "End"]}  # type: ignore[index]
    assert xs["Start"] < xs["A"] < xs["B"] < xs["C"] < xs["End"]
    model.undo_stack.undo()
    assert model.data == sample()


def test_signals_and_dirty_flag(model: GraphDocumentModel) -> None:
    seen: list[tuple[str, Any]] = []
    model.node_added.connect(lambda n: seen.append(("node_added", n)))
    model.edge_added.connect(lambda s, d: seen.append(("edge_added", (s, d))))
    model.edge_removed.connect(lambda s, d: seen.append(("edge_removed", (s, d))))
    model.node_changed.connect(lambda o, n: seen.append(("node_changed", (o, n))))
    model.dirty_changed.connect(lambda d: seen.append(("dirty", d)))
    editor = DocumentEditor(model)
    editor.add_node("delay", (0, 0), node_id="D")
    editor.connect("D", "End")
    editor.change_node("D", new_id="Wait")
    assert seen == [
        ("node_added", "D"),
        ("dirty", True),
        ("edge_added", ("D", "End")),
        ("edge_removed", ("D", "End")),
        ("node_changed", ("D", "Wait")),
        ("edge_added", ("Wait", "End")),
    ]
    for _ in range(3):
        model.undo_stack.undo()
    assert seen[-1] == ("dirty", False)
    assert model.data == sample()


def test_editor_rejects_bad_edits(model: GraphDocumentModel) -> None:
    editor = DocumentEditor(model)
    with pytest.raises(EditRejected, match="exists already"):
        editor.connect("A", "B")
    with pytest.raises(EditRejected, match="terminal"):
        editor.connect("End", "A")
    with pytest.raises(EditRejected, match="reserved"):
        editor.change_node("A", new_id="End")
    with pytest.raises(EditRejected, match="already exists"):
        editor.change_node("A", new_id="B")
    with pytest.raises(EditRejected, match="no graph fragment"):
        editor.paste_text("{not json")
    model.set_read_only(True, "code-first graph")
    with pytest.raises(EditRejected, match="read-only: code-first graph"):
        editor.add_node("delay", (0, 0))
    assert model.data == sample()
    assert model.undo_stack.count() == 0


def node_of(model: GraphDocumentModel, node_id: str) -> dict[str, Any]:
    return next(n for n in model.data["nodes"] if n["id"] == node_id)


def test_node_policies_are_one_undoable_step_each(model: GraphDocumentModel) -> None:
    editor = DocumentEditor(model)
    retry = {"max_attempts": 3, "initial_delay_s": 0.5, "backoff": 2.0, "max_delay_s": 5.0}
    editor.set_node_policies("C", retry=retry, timeout_s=2.5, wait_for=["A", "B"])
    assert node_of(model, "C")["retry"] == retry and node_of(model, "C")["wait_for"] == ["A", "B"]
    assert node_of(model, "C")["timeout_s"] == 2.5
    editor.set_node_policies("C", timeout_s=None)
    assert "timeout_s" not in node_of(model, "C")
    model.undo_stack.undo()
    assert node_of(model, "C")["timeout_s"] == 2.5
    model.undo_stack.undo()
    assert not {"retry", "timeout_s", "wait_for"} & set(node_of(model, "C"))
    for bad, says in (
        ({"retry": {"max_attempts": 0}}, "retry"),
        ({"timeout_s": -1}, "timeout_s"),
        ({"wait_for": ["nope"]}, "'nope'"),
        ({"wait_for": ["C"]}, "'C'"),
        ({"colour": "red"}, "not a node policy"),
    ):
        with pytest.raises(EditRejected, match=says):
            editor.set_node_policies("C", **bad)
    assert not {"retry", "timeout_s", "wait_for"} & set(node_of(model, "C"))


def test_rename_and_delete_rewrite_other_nodes_wait_for(model: GraphDocumentModel) -> None:
    editor = DocumentEditor(model)
    editor.set_node_policies("C", wait_for=["A", "B"])
    before = copy.deepcopy(model.data)
    editor.change_node("A", new_id="Alpha")
    assert node_of(model, "C")["wait_for"] == ["Alpha", "B"]
    model.undo_stack.undo()
    assert model.data == before
    editor.delete(["B"])
    assert node_of(model, "C")["wait_for"] == ["A"]
    editor.delete(["A"])
    assert "wait_for" not in node_of(model, "C")  # emptied: no longer a join
    model.undo_stack.undo()
    model.undo_stack.undo()
    assert model.data == before
