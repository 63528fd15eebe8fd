"""Dependencies point one way: `engine` never imports Qt, qasync, pyqtgraph or `studio`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

BLOCKER = r"""
import importlib.abc, sys
BLOCKED = ("PySide6", "qasync", "pyqtgraph", "studio", "shiboken6")
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not available in this environment")
        return None
sys.meta_path.insert(0, Block())
"""

SCRIPT = (
    BLOCKER
    + r"""
import asyncio, pkgutil, importlib, engine
skip = {"engine.persistence.postgres", "engine.persistence.pg_support"}
for mod in pkgutil.walk_packages(engine.__path__, "engine."):
    if mod.name not in skip:
        importlib.import_module(mod.name)
from engine import GraphBuilder, VersionedState, NodePartial, Message
async def node(s, ctx):
    return NodePartial(messages=[Message.assistant("ok")])
app = GraphBuilder().add_node("A", node).add_edge("Start", "A").add_edge("A", "End").compile()
final = asyncio.run(app.invoke(VersionedState.new_with_user_message("hi")))
assert final.messages[-1].content == "ok"
assert not any(m.split(".")[0] in BLOCKED for m in sys.modules)
print("engine ok without Qt")
"""
)


def test_engine_imports_and_runs_without_qt() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "engine ok without Qt" in proc.stdout


def test_import_linter_contract() -> None:
    exe = Path(sys.executable).with_name("lint-imports")
    if not exe.exists() and shutil.which("lint-imports") is None:
        pytest.skip("import-linter is not installed (dev extra)")
    proc = subprocess.run(
        [str(exe) if exe.exists() else "lint-imports"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 kept, 0 broken" in proc.stdout
