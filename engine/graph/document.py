"""Graph documents (`*.wgraph.json`): the public facade for loading, checking, saving, trusting, converting
to and from graphs, and the bundled examples. Implementation lives in the sibling modules."""

from __future__ import annotations

from pathlib import Path

from engine.graph.convert import (
    app_to_document,
    document_input_state,
    document_to_app,
    document_to_builder,
    validate_document,
)
from engine.graph.doc_checks import (
    declared_targets,
    document_problems,
    document_schema,
    graph_problems,
    load_document,
    parse_document,
)
from engine.graph.doc_model import (
    FORMAT,
    SUFFIX,
    VERSION,
    DocumentError,
    DocumentProblem,
    GraphDocument,
    UntrustedDocument,
    canonical_json,
    content_hash,
    dumps_document,
    dumps_json,
    save_document,
)
from engine.graph.layout import layered_layout
from engine.graph.trust import TrustStore, default_trust_file, document_callables

__all__ = [
    "FORMAT",
    "SUFFIX",
    "VERSION",
    "DocumentError",
    "DocumentProblem",
    "GraphDocument",
    "TrustStore",
    "UntrustedDocument",
    "app_to_document",
    "canonical_json",
    "content_hash",
    "declared_targets",
    "default_trust_file",
    "document_callables",
    "document_input_state",
    "document_problems",
    "document_schema",
    "document_to_app",
    "document_to_builder",
    "dumps_document",
    "dumps_json",
    "example_names",
    "example_path",
    "graph_problems",
    "layered_layout",
    "load_document",
    "parse_document",
    "save_document",
    "validate_document",
]

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
"""The examples shipped inside the package (`engine/examples`, a copy of `resources/examples`)."""


def example_names() -> list[str]:
    """Names of the bundled examples ("market_ticks", ...), sorted."""
    return sorted(p.name[: -len(SUFFIX)] for p in EXAMPLES_DIR.glob(f"*{SUFFIX}"))


def example_path(name: str) -> Path:
    """Path of a bundled example by name ("market_ticks" or "market_ticks.wgraph.json").

    Raises FileNotFoundError naming the available examples.
    """
    file_name = name if name.endswith(SUFFIX) else name + SUFFIX
    path = EXAMPLES_DIR / file_name
    if not path.is_file():
        known = ", ".join(example_names()) or "none"
        raise FileNotFoundError(f"no bundled example '{name}' in {EXAMPLES_DIR} (available: {known})")
    return path
