"""Graph documents (`*.wgraph.json`): the `GraphDocument` wrapper, its errors, parsing, loading and the
stable saver. Checks live in `engine.graph.doc_checks`; the public facade is `engine.graph.document`."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import EngineError
from engine.graph.doc_limits import MAX_DOCUMENT_BYTES, limit_problem, too_large
from engine.types import JSON

if TYPE_CHECKING:
    pass

FORMAT = "weavegraph.graph"
VERSION = 1
SUFFIX = ".wgraph.json"


@dataclass(frozen=True, slots=True)
class DocumentProblem:
    """One problem of a document: a JSONPath (`$.nodes[1].id`) and what is wrong there."""

    path: str
    message: str

    def __str__(self) -> str:
        """One line: characters that are not printable (a newline or record separator inside a quoted value)
        are written as escapes."""
        text = f"{self.path}: {self.message}"
        if text.isprintable():
            return text
        return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


class DocumentError(EngineError):
    """A graph document is invalid; `.problems` lists every problem with its JSONPath."""

    def __init__(self, problems: Sequence[DocumentProblem], source: str = "<memory>") -> None:
        self.problems = list(problems)
        self.source = source
        count = len(self.problems)
        first = str(self.problems[0]) if self.problems else "invalid document"
        more = f" (and {count - 1} more)" if count > 1 else ""
        super().__init__(f"{source}: {first}{more}")


class UntrustedDocument(DocumentError):
    """The document names Python callables and is not trusted; `.callables` lists (JSON path, reference)."""

    def __init__(self, callables: Sequence[tuple[str, str]], source: str = "<memory>") -> None:
        self.callables = list(callables)
        super().__init__(
            [
                DocumentProblem(path, f"imports {ref}; trust the document to allow it (--trust)")
                for path, ref in self.callables
            ],
            source,
        )


class GraphDocument:
    """A graph document: the raw JSON object (`.data`, kept as loaded, unknown fields included) with typed
    views of its parts. Views of well-formed parts are the live lists and objects of `.data`; views of
    missing or malformed parts are empty values that are not stored in `.data`."""

    __slots__ = ("data", "problems", "source")

    def __init__(self, data: dict[str, JSON], source: str = "<memory>") -> None:
        self.data = data
        self.source = source
        self.problems: list[DocumentProblem] = []
        """Problems found when parsed with `strict=False` (empty for a valid document)."""

    @classmethod
    def new(cls, name: str | None = None) -> GraphDocument:
        """An empty document (no nodes yet)."""
        data: dict[str, JSON] = {"format": FORMAT, "version": VERSION}
        if name is not None:
            data["name"] = name
        data["nodes"] = []
        data["edges"] = []
        return cls(data)

    @property
    def name(self) -> str | None:
        value = self.data.get("name")
        return value if isinstance(value, str) else None

    @property
    def description(self) -> str | None:
        value = self.data.get("description")
        return value if isinstance(value, str) else None

    @property
    def nodes(self) -> list[dict[str, JSON]]:
        return _list_of_dicts(self.data.get("nodes"))

    @property
    def edges(self) -> list[dict[str, JSON]]:
        return _list_of_dicts(self.data.get("edges"))

    @property
    def conditional_edges(self) -> list[dict[str, JSON]]:
        return _list_of_dicts(self.data.get("conditional_edges"))

    @property
    def runtime(self) -> dict[str, JSON]:
        value = self.data.get("runtime")
        return value if isinstance(value, dict) else {}

    @property
    def input(self) -> dict[str, JSON]:
        value = self.data.get("input")
        return value if isinstance(value, dict) else {}

    def node_ids(self) -> list[str]:
        return [n["id"] for n in self.nodes if isinstance(n.get("id"), str)]

    def node(self, node_id: str) -> dict[str, JSON] | None:
        for node in self.nodes:
            if node.get("id") == node_id:
                return node
        return None

    def copy(self) -> GraphDocument:
        """A deep copy (the JSON is copied; the source is kept)."""
        return GraphDocument(json.loads(json.dumps(self.data)), self.source)

    @property
    def is_valid(self) -> bool:
        return not self.problems

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GraphDocument):
            return NotImplemented
        return self.data == other.data

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"GraphDocument(name={self.name!r}, nodes={len(self.nodes)}, source={self.source!r})"


def _list_of_dicts(value: JSON) -> list[dict[str, JSON]]:
    """The list itself (live) when every item is an object, else a filtered copy."""
    if not isinstance(value, list):
        return []
    if all(isinstance(item, dict) for item in value):
        return value
    return [item for item in value if isinstance(item, dict)]


# ---------------------------------------------------------------- parsing


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _json_error(exc: json.JSONDecodeError | ValueError | RecursionError) -> DocumentProblem:
    if isinstance(exc, json.JSONDecodeError):
        return DocumentProblem("$", f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    if isinstance(exc, RecursionError):
        return DocumentProblem("$", "not valid JSON: nested too deeply")
    return DocumentProblem("$", f"not valid JSON: {exc}")


def parse_json_text(text: str | bytes, source: str = "<memory>") -> JSON:
    """Parse JSON text; DocumentError with `$`, line and column when it is not JSON (NaN is refused), and
    with the JSONPath of the first value over a limit (size, nesting, strings: `engine.graph.doc_limits`)."""
    if len(text) > MAX_DOCUMENT_BYTES:
        raise DocumentError([DocumentProblem("$", too_large(len(text)))], source)
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8-sig")
        elif text.startswith("\ufeff"):
            text = text[1:]
        data: JSON = json.loads(text, parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise DocumentError([DocumentProblem("$", f"not UTF-8 text: {exc.reason}")], source) from exc
    except (json.JSONDecodeError, ValueError, RecursionError) as exc:
        raise DocumentError([_json_error(exc)], source) from exc
    check_limits(data, source)
    return data


def check_limits(data: object, source: str) -> None:
    found = limit_problem(data)
    if found is not None:
        raise DocumentError([DocumentProblem(*found)], source)


# ---------------------------------------------------------------- saving


_INLINE_WIDTH = 100


def _is_flat(value: JSON) -> bool:
    return not isinstance(value, dict | list | tuple) or not value


def _flat(value: JSON) -> str:
    if isinstance(value, dict | list | tuple):
        return "{}" if isinstance(value, dict) else "[]"
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def _dump(value: JSON, indent: int, out: list[str]) -> None:
    if isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        if all(_is_flat(v) for v in value.values()):
            items = (json.dumps(str(k), ensure_ascii=False) + ": " + _flat(v) for k, v in value.items())
            inline = "{" + ", ".join(items) + "}"
            if len(inline) + 2 * indent <= _INLINE_WIDTH:
                out.append(inline)
                return
        pad = "  " * (indent + 1)
        out.append("{\n")
        for i, (key, item) in enumerate(value.items()):
            out.append(pad + json.dumps(str(key), ensure_ascii=False) + ": ")
            _dump(item, indent + 1, out)
            out.append(",\n" if i < len(value) - 1 else "\n")
        out.append("  " * indent + "}")
    elif isinstance(value, list | tuple):
        if not value:
            out.append("[]")
            return
        if all(_is_flat(v) for v in value):
            inline = "[" + ", ".join(_flat(v) for v in value) + "]"
            if len(inline) + 2 * indent <= _INLINE_WIDTH:
                out.append(inline)
                return
        pad = "  " * (indent + 1)
        out.append("[\n")
        for i, item in enumerate(value):
            out.append(pad)
            _dump(item, indent + 1, out)
            out.append(",\n" if i < len(value) - 1 else "\n")
        out.append("  " * indent + "]")
    else:
        out.append(json.dumps(value, ensure_ascii=False, allow_nan=False))


def dumps_json(value: JSON) -> str:
    """The canonical document text: 2-space indent, keys in their order, an object or array holding only
    scalars on one line when that line fits in 100 columns (edges, positions, targets), UTF-8 kept, trailing
    newline. Loading and re-dumping such text changes no byte."""
    out: list[str] = []
    _dump(value, 0, out)
    out.append("\n")
    return "".join(out)


def dumps_document(doc: GraphDocument) -> str:
    """The document as canonical text (see `dumps_json`); unknown fields are kept where they are."""
    return dumps_json(doc.data)


def save_document(doc: GraphDocument, path: str | os.PathLike[str]) -> None:
    """Write the document atomically (a temporary file in the same folder, then rename)."""
    target = Path(path)
    text = dumps_document(doc)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or Path("."))
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    doc.source = str(target)


def canonical_json(value: JSON) -> str:
    """Key-sorted compact JSON: equal documents give equal text whatever their formatting."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def content_hash(doc: GraphDocument | Mapping[str, JSON]) -> str:
    """sha256 (hex) of the document's canonical JSON; the key under which trust is remembered."""
    data = doc.data if isinstance(doc, GraphDocument) else doc
    return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()
