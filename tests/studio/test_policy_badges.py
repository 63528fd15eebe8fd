"""The canvas marks joins (wait_for), retry policies and timeouts with small badges that overlap neither
the breakpoint badges, the warning triangle nor the step badge; tooltips say what they mean."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRectF

from studio.canvas.items.node import BADGE_AFTER, BADGE_BEFORE, POLICY_ORDER
from studio.document.io import OpenedDocument


def test_badges_for_join_retry_and_timeout(main_window: Any) -> None:
    assert main_window.open_example("fan_out_in")
    scene = main_window.graph_editor.scene
    assert set(scene.nodes["join"].policies) == {"join"}
    assert "join: waits for quotes, news, rates" in scene.nodes["join"].toolTip()
    assert scene.nodes["quotes"].policies == {}
    doc = {
        "format": "weavegraph.graph",
        "version": 1,
        "name": "policies",
        "nodes": [
            {"id": "a", "type": "set", "config": {"values": {"a": 1}}, "position": [0, 0]},
            {
                "id": "b",
                "type": "set",
                "config": {"values": {"b": 1}},
                "position": [200, 0],
                "retry": {"max_attempts": 4},
                "timeout_s": 2.5,
                "wait_for": ["a"],
            },
        ],
        "edges": [{"from": "Start", "to": "a"}, {"from": "a", "to": "b"}, {"from": "b", "to": "End"}],
    }
    main_window.documents._apply(OpenedDocument(doc))
    item = main_window.graph_editor.scene.nodes["b"]
    assert set(item.policies) == set(POLICY_ORDER)
    tip = item.toolTip()
    assert "retry: up to 4 attempts" in tip and "timeout: 2.5 s per attempt" in tip and "waits for a" in tip
    body = item.body_rect()
    step_badge = QRectF(body.right() - 30, body.bottom() - 10, 26, 18)
    taken = [item.badge_rect(BADGE_BEFORE), item.badge_rect(BADGE_AFTER), item.problem_rect(), step_badge]
    rects = [item.policy_rect(w) for w in POLICY_ORDER]
    for i, r in enumerate(rects):
        assert body.intersects(r)  # on the node
        assert not any(r.intersects(t) for t in taken), (r, taken)
        assert not any(r.intersects(o) for o in rects[i + 1 :])
    assert not main_window.graph_editor.grab().isNull()  # paints the badges
    # a change of the node in the document updates the badges
    node = dict(main_window.model.node("b"))
    node.pop("retry")
    main_window.model.update_node("b", node)
    assert set(item.policies) == {"join", "timeout"}
