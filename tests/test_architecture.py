"""Dependencies point one way: `engine` never imports Qt, qasync, pyqtgraph or `studio`."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import networkx as nx

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


def test_import_linter_contracts_are_kept() -> None:
    exe = Path(sys.executable).with_name("lint-imports")
    found = str(exe) if exe.exists() else shutil.which("lint-imports")
    assert found, "import-linter is missing: scripts/setup.sh test installs it (the dev extra)"
    proc = subprocess.run([found], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "engine never imports Qt or studio KEPT" in proc.stdout
    assert "engine layers KEPT" in proc.stdout
    assert "0 broken" in proc.stdout


def _layers() -> list[list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    (layers,) = [c["layers"] for c in contracts if c["type"] == "layers"]
    return [[m.strip().strip("()") for m in re.split(r"[|:]", layer)] for layer in layers]


def test_layers_contract_orders_the_engine_bottom_up() -> None:
    """The layers contract keeps STYLE.md's order: each module imports only from modules listed after it."""
    rank = {module: i for i, layer in enumerate(_layers()) for module in layer}
    order = [
        "engine.cli",
        "engine.launch",
        "engine.graph.builder",
        "engine.app",
        "engine.runner",
        "engine.sessions",
        "engine.persistence",
        "engine.executor",
        "engine.plan",
        "engine.graph.compiled",
        "engine.node",
        "engine.events",
        "engine.state",
        "engine.types",
        "engine.errors",
    ]
    missing = [m for m in order if m not in rank]
    assert missing == []
    ranks = [rank[m] for m in order]
    assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks), list(zip(order, ranks, strict=True))


def _engine_import_graph() -> nx.DiGraph:
    """Module -> imported engine module, for module-level and function-level imports alike."""
    root = ROOT / "engine"
    mods = {}
    for f in root.rglob("*.py"):
        name = ".".join(f.relative_to(ROOT).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = f
    g = nx.DiGraph()
    for name, f in mods.items():
        base = name if f.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mod = node.module or ""
                if node.level:
                    parts = base.split(".")
                    prefix = ".".join(parts[: len(parts) - (node.level - 1)])
                    mod = f"{prefix}.{mod}" if mod else prefix
                targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in mods:
                    t = t.rsplit(".", 1)[0] if "." in t else ""
                if t and t not in (name, "engine"):
                    g.add_edge(name, t)
    return g


def test_no_import_cycles_in_engine() -> None:
    cycles = [sorted(c) for c in nx.strongly_connected_components(_engine_import_graph()) if len(c) > 1]
    assert cycles == []
