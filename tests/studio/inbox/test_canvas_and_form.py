"""The canvas look of human in the loop (an `ask` node's own look; a waiting node's halo, hourglass and
prompt, gone once answered) and the answer form generated from an interrupt's JSON Schema."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QCheckBox, QComboBox, QGraphicsScene, QSpinBox

from engine.hitl_types import PendingInterrupt
from studio.canvas.items.node import ASK_COLOURS, NodeItem, RunStatus
from studio.controllers.run_interrupts import ASKING, asking_statuses
from studio.theme import is_dark
from studio.widgets.interrupt_form import AnswerError, InterruptForm


def teal_pixels(item: NodeItem, area: QRectF) -> int:
    """Pixels of the human-in-the-loop colour in `area` (item coordinates) of the rendered item."""
    scene = QGraphicsScene()
    scene.addItem(item)
    image = QImage(int(area.width()), int(area.height()), QImage.Format.Format_ARGB32)
    image.fill(QColor("#808080"))
    painter = QPainter(image)
    scene.render(painter, QRectF(0, 0, area.width(), area.height()), area)
    painter.end()
    scene.removeItem(item)
    want = ASK_COLOURS[is_dark()]
    count = 0
    for y in range(image.height()):
        for x in range(image.width()):
            c = image.pixelColor(x, y)
            if abs(c.red() - want.red()) + abs(c.green() - want.green()) + abs(c.blue() - want.blue()) < 40:
                count += 1
    return count


def test_an_ask_node_has_its_own_look(qapp: Any) -> None:
    ask, plain = NodeItem("approve", "ask"), NodeItem("publish", "message")
    assert ASKING == RunStatus.ASKING
    area = ask.boundingRect()
    assert teal_pixels(ask, area) > 150  # border and "?" badge
    assert teal_pixels(plain, area) == 0
    assert "asks a person" in ask.toolTip()


def test_a_waiting_node_pulses_until_it_runs_again(qtbot: Any) -> None:
    item = NodeItem("review", "python")
    body = item.body_rect()
    halo = QRectF(body.left() - 10, body.top() - 10, body.width() + 20, 9)  # above the card only
    assert teal_pixels(item, halo) == 0
    item.set_status(RunStatus.ASKING, 3, "Ship it?")
    assert teal_pixels(item, halo) > 20
    assert "waiting for an answer at step 3" in item.toolTip() and "asks: Ship it?" in item.toolTip()
    phase = item.pulse
    qtbot.waitUntil(lambda: item.pulse != phase, timeout=1000)
    item.set_status(RunStatus.RUNNING, 3)
    assert item._pulse_timer is None and item.pulse == 0.0
    assert teal_pixels(item, halo) == 0


def interrupt(schema: Any, payload: Any = None, node: str = "n", answered: bool = False) -> PendingInterrupt:
    now = dt.datetime.now(dt.UTC)
    return PendingInterrupt(
        "i1", "s", 1, node, 0, payload or {"prompt": "Q?"}, schema, now, None, now if answered else None
    )


def test_asking_statuses_name_each_waiting_node_once() -> None:
    rows = [interrupt(None, {"prompt": "a\nb"}, "x"), interrupt(None, "raw", "x"), interrupt(None, 3, "y")]
    rows.append(interrupt(None, "done", "z", answered=True))
    assert asking_statuses(rows) == {"x": (ASKING, 1, "a b"), "y": (ASKING, 1, "3")}


def test_the_form_is_generated_from_the_schema(qtbot: Any) -> None:
    schema = {
        "type": "object",
        "properties": {
            "choice": {"enum": ["ship", "hold"]},
            "copies": {"type": "integer", "minimum": 1, "maximum": 9},
            "urgent": {"type": "boolean"},
        },
        "required": ["choice", "copies"],
    }
    form = InterruptForm(interrupt(schema))
    qtbot.addWidget(form)
    assert form.prompt.text() == "Q?"
    assert isinstance(form.field("choice"), QComboBox)
    assert isinstance(form.field("urgent"), QCheckBox)
    spin = form.field("copies")
    assert isinstance(spin, QSpinBox) and spin.value() == 1
    with pytest.raises(AnswerError, match=r"^\$: 'choice' is a required property$"):
        form.answer()
    combo = form.field("choice")
    assert isinstance(combo, QComboBox)
    combo.setCurrentIndex(1)
    combo.activated.emit(1)
    assert form.answer() == {"choice": "hold", "copies": 1, "urgent": False}


def test_a_scalar_schema_is_a_form_of_one_field(qtbot: Any) -> None:
    form = InterruptForm(interrupt({"type": "integer", "maximum": 5, "title": "How many?"}))
    qtbot.addWidget(form)
    spin = form.field()
    assert isinstance(spin, QSpinBox)
    spin.setValue(4)
    spin.editingFinished.emit()
    assert form.answer() == 4
    # the same answer checked against another interrupt's schema (the inbox answers many at once)
    with pytest.raises(AnswerError, match=r"^\$: 4 is greater than the maximum of 3$"):
        form.answer(interrupt({"type": "integer", "maximum": 3}))
