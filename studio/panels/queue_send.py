"""The run console's "Send to queue" (STUDIO.md "Queue": the run console can send a run to the queue): a
button beside Run/Step/Continue/Stop, enabled when the console's checkpointer is a Postgres URL. It sends the
open document's graph name, the console's session id and initial state to the queue of that database (the
`QueueController`, which connects the Queue panel to it and follows the job's live events there). Kept out
of `run_console.py`: `install_send_to_queue` adds it to a console."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QLabel, QPushButton

from studio.controllers.queue import QueueController

__all__ = ["install_send_to_queue", "send_to_queue"]


def install_send_to_queue(
    console: Any,
    controller: QueueController,
    graph_name: Callable[[], str | None],
    on_sent: Callable[[], None] | None = None,
) -> QPushButton:
    """Add the button (`sendToQueue`) and its one-line notice (`sendToQueueNotice`) to `console`'s button row;
    `on_sent()` runs once a job was queued (the main window shows the Queue panel)."""
    button = QPushButton("Send to queue", console.buttons)
    button.setObjectName("sendToQueue")
    button.setToolTip("Queue this run for the workers serving the document's graph (a Postgres database)")
    notice = QLabel("", console.buttons)
    notice.setObjectName("sendToQueueNotice")
    row = console.buttons.layout()
    at = row.indexOf(console.stop_button) + 1
    row.insertWidget(at, button)
    row.insertWidget(at + 1, notice)
    sending: list[bool] = []

    def update(*_args: Any) -> None:
        postgres = console.kind.currentData() == "postgres"
        button.setEnabled(postgres)
        if not postgres:
            notice.setText("")

    def on_submitted(job: Any) -> None:
        if sending:
            sending.clear()
            notice.setText(f"queued as job {job.id} (session {job.session_id})")
            if on_sent is not None:
                on_sent()

    def on_failed(text: str) -> None:
        if sending:
            sending.clear()
            console.show_error(f"Send to queue: {text}")

    def click() -> None:
        if send_to_queue(console, controller, graph_name):
            sending.append(True)
            notice.setText("sending...")

    console.kind.currentIndexChanged.connect(update)
    controller.submitted.connect(on_submitted)
    controller.failed.connect(on_failed)
    button.clicked.connect(click)
    update()
    return button


def send_to_queue(console: Any, controller: QueueController, graph_name: Callable[[], str | None]) -> bool:
    """Check what the console would run and hand it to the controller; False after showing why not (inline,
    in the console's error box)."""
    console.hide_error()
    name = graph_name()
    if not name:
        console.show_error("Send to queue: the open document has no name (workers serve graphs by name)")
        return False
    if not console.input_editor.revalidate():
        console.show_error(f"Initial state: {console.input_editor.error.text()}")
        return False
    value = console.input_editor.value()
    if not isinstance(value, dict):
        console.show_error("Initial state: the input must be a JSON object")
        return False
    try:
        url = console.checkpointer_url()
    except ValueError as exc:
        console.show_error(str(exc))
        return False
    if console.kind.currentData() != "postgres":
        console.show_error("Send to queue: queue mode needs a Postgres database (choose Postgres URL)")
        return False
    controller.send_run(url, name, console.session.text().strip() or None, value)
    return True
