"""Trust for documents that import Python code: which callables a document names, and the `TrustStore`
that remembers trusted documents by content hash in the user's config dir."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from engine.graph.doc_model import GraphDocument, content_hash
from engine.graph.node_types import NodeTypeRegistry, TypeKind, default_registry

TRUST_FILE_ENV = "WEAVEGRAPH_TRUST_FILE"


def document_callables(doc: GraphDocument, registry: NodeTypeRegistry | None = None) -> list[tuple[str, str]]:
    """(JSON path, "package.module:function") of every Python callable the document would import: python
    nodes and routers, and any type marked `imports_code` that has a `callable` in its config."""
    registry = registry if registry is not None else default_registry()
    out: list[tuple[str, str]] = []
    for i, node in enumerate(doc.data.get("nodes") or []):
        if isinstance(node, dict):
            ref = _callable_of(node.get("type"), node.get("config"), "node", registry)
            if ref is not None:
                out.append((f"$.nodes[{i}].config.callable", ref))
    for i, cond in enumerate(doc.data.get("conditional_edges") or []):
        router = cond.get("router") if isinstance(cond, dict) else None
        if isinstance(router, dict):
            ref = _callable_of(router.get("type"), router.get("config"), "router", registry)
            if ref is not None:
                out.append((f"$.conditional_edges[{i}].router.config.callable", ref))
    return out


def _callable_of(type_name: Any, config: Any, kind: TypeKind, registry: NodeTypeRegistry) -> str | None:
    if not isinstance(type_name, str) or not registry.has(type_name, kind):
        return None
    spec = registry.get(type_name, kind)
    if not spec.imports_code:
        return None
    ref = config.get("callable") if isinstance(config, dict) else None
    return ref if isinstance(ref, str) else "<missing callable>"


def config_dir() -> Path:
    """The user's weavegraph config folder ($XDG_CONFIG_HOME, %APPDATA% or ~/Library/Application Support)."""
    xdg = os.environ.get("XDG_CONFIG_HOME")
    if xdg:
        return Path(xdg) / "weavegraph"
    if sys.platform == "win32":
        appdata = os.environ.get("APPDATA")
        if appdata:
            return Path(appdata) / "weavegraph"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "weavegraph"
    return Path.home() / ".config" / "weavegraph"


def default_trust_file() -> Path:
    """`$WEAVEGRAPH_TRUST_FILE`, else `<config dir>/trusted.json`."""
    override = os.environ.get(TRUST_FILE_ENV)
    return Path(override) if override else config_dir() / "trusted.json"


class TrustStore:
    """Documents the user trusted, keyed by `content_hash`, in a small JSON file
    (`{"version": 1, "trusted": {"<sha256>": {"name", "source", "trusted_at"}}}`). A missing or unreadable
    file trusts nothing; writes are atomic."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_trust_file()

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        trusted = data.get("trusted") if isinstance(data, dict) else None
        return trusted if isinstance(trusted, dict) else {}

    def is_trusted(self, doc: GraphDocument | str) -> bool:
        """Whether the document (or a content hash) was trusted before."""
        key = doc if isinstance(doc, str) else content_hash(doc)
        return key in self._read()

    def trust(self, doc: GraphDocument) -> str:
        """Remember the document as trusted; returns its content hash."""
        key = content_hash(doc)
        entries = self._read()
        entries[key] = {
            "name": doc.name,
            "source": doc.source,
            "trusted_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }
        self._write(entries)
        return key

    def revoke(self, doc: GraphDocument | str) -> bool:
        """Forget a trusted document; True when it was trusted."""
        key = doc if isinstance(doc, str) else content_hash(doc)
        entries = self._read()
        if entries.pop(key, None) is None:
            return False
        self._write(entries)
        return True

    def entries(self) -> dict[str, dict[str, Any]]:
        return self._read()

    def _write(self, entries: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"version": 1, "trusted": entries}, indent=2, ensure_ascii=False) + "\n"
        fd, tmp = tempfile.mkstemp(prefix=".trusted.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
