"""A real studio process for the SIGTERM test: `python sigterm_driver.py GRAPH DB_URL`.

It runs `studio.app.main` unchanged, except that once the window is built it makes the document dirty
(so a close would normally ask about unsaved changes), starts a run of session "sigterm" and prints
`RUNNING <node>` when a node starts, for the test to send SIGTERM at the right moment."""

from __future__ import annotations

import sys
from typing import Any

from PySide6.QtCore import QTimer

import studio.app as studio_app

_build = studio_app.build_window


def build_window(bridge: Any, args: Any) -> Any:
    window = _build(bridge, args)
    window.editor.move({"second": ((400.0, 0.0), (420.0, 40.0))})  # unsaved changes
    print(f"DIRTY {window.model.dirty}", flush=True)

    def statuses(changed: dict[str, tuple[str, int | None, str]]) -> None:
        for node, (status, _step, _msg) in changed.items():
            if status == "running":
                print(f"RUNNING {node}", flush=True)

    window.runs.node_statuses.connect(statuses)
    window.runs.state_changed.connect(lambda s: print(f"STATE {s} {window.runs.last_error}", flush=True))
    window.console.session.setText("sigterm")
    QTimer.singleShot(0, lambda: print(f"STARTED {window.console.run()}", flush=True))
    return window


if __name__ == "__main__":
    studio_app.build_window = build_window
    code = studio_app.main([sys.argv[1], "--db", sys.argv[2]])
    print(f"EXIT {code}", flush=True)
    raise SystemExit(code)
