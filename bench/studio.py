"""Workload 7: the studio figures, measured by `bench/studio_bench.py` (written by the studio engineers), and
the session timeline's open time (`bench/timeline_bench.py`, issue 15).

It runs as its own process (offscreen Qt). When it offers `--json FILE` its JSON is kept as well; its
printed lines always go into the table. Without the script the row says "not available yet".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

TIMEOUT = 600.0


def _timeline_lines(root: Path, env: dict[str, str], *, quick: bool) -> list[str]:
    """The session timeline figure (issue 15, `bench/timeline_bench.py`): one line, or one saying why not."""
    cmd = [sys.executable, "-m", "bench.timeline_bench", "--repeat", "3" if quick else "7"]
    try:
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return [f"(timeline_bench timed out after {TIMEOUT:.0f} s)"]
    found = [line.strip() for line in proc.stdout.splitlines() if line.startswith("timeline of")]
    if proc.returncode != 0 or not found:
        tail = [line for line in proc.stderr.splitlines() if line.strip()][-2:]
        return [f"(timeline_bench exited with {proc.returncode}: {' / '.join(tail)})"]
    return found


def run_studio(root: Path, *, quick: bool, say: Callable[[str], None]) -> dict[str, Any]:
    script = root / "bench" / "studio_bench.py"
    if not script.exists():
        say("  not available yet (bench/studio_bench.py does not exist)")
        return {"status": "not available yet", "lines": []}
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH", "")]))
    try:
        help_text = subprocess.run(
            [sys.executable, str(script), "--help"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"status": f"failed: {exc}", "lines": []}
    cmd = [sys.executable, str(script)]
    if quick and "--no-launch" in help_text:
        cmd.append("--no-launch")
    json_path = ""
    if "--json" in help_text:
        fd, json_path = tempfile.mkstemp(suffix=".json")
        os.close(fd)
        cmd += ["--json", json_path]
    try:
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"status": f"failed: timed out after {TIMEOUT:.0f} s", "lines": []}
    lines = [line.strip() for line in proc.stdout.splitlines() if line.strip()]
    out: dict[str, Any] = {"status": "ok" if proc.returncode == 0 else f"exit code {proc.returncode}"}
    if proc.returncode != 0:
        tail = [line for line in proc.stderr.splitlines() if line.strip()][-3:]
        lines += [f"(studio_bench exited with {proc.returncode}: {' / '.join(tail)})"]
    lines += _timeline_lines(root, env, quick=quick)
    out["lines"] = lines
    if json_path:
        try:
            out["json"] = json.loads(Path(json_path).read_text() or "null")
        except (OSError, ValueError):
            out["json"] = None
        finally:
            os.unlink(json_path)
    for line in lines:
        say(f"  {line}")
    return out
