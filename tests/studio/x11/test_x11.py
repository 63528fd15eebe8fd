"""Studio checks on a real X11 server (Xvfb, the xcb platform), driven by real key presses and mouse
clicks (xdotool): shortcuts, focus and double-clicks behave differently there than offscreen (defect 1: Redo
was bound twice and did nothing; defect 2: a double-click added two nodes). One probe runs every check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

PROBE = Path(__file__).with_name("probe.py")
CHECKS = ("shortcuts", "palette", "run_stop")


@pytest.fixture(scope="module")
def x11() -> dict[str, Any]:
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb"}
    env.pop("DISPLAY", None)
    cmd = ["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", sys.executable, str(PROBE), *CHECKS]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, (
        f"the probe printed no result (exit {done.returncode}):\n{done.stdout}\n{done.stderr[-2000:]}"
    )
    result: dict[str, Any] = json.loads(lines[-1])
    return result


@pytest.mark.slow
def test_undo_redo_shortcuts_work_with_real_keys_on_x11(x11: dict[str, Any]) -> None:
    result = x11["shortcuts"]
    assert result["platform"] == "xcb" and result["active"] and result["added"]
    assert result["undo_ctrl_z"], result
    assert result["redo_ctrl_shift_z"], result
    assert result["redo_ctrl_y"], result
    assert result["bound_twice"] == {}, result
    assert result["ambiguous"] == [], result


@pytest.mark.slow
def test_double_clicking_the_palette_with_a_real_mouse_adds_one_node(x11: dict[str, Any]) -> None:
    result = x11["palette"]
    assert result["platform"] == "xcb" and result["nodes"] == 1, result


@pytest.mark.slow
def test_f5_runs_and_shift_f5_stops_with_real_keys(x11: dict[str, Any]) -> None:
    result = x11["run_stop"]
    assert result["running"] and result["stopped"] and result["node"] == "cancelled", result
