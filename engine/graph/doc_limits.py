"""Size and nesting limits of graph documents, checked where JSON enters the loader (text or a Python object)
before anything walks it recursively: a value nested too deeply or a document too large is one problem with
its JSONPath, never a `RecursionError` or a machine out of memory."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["MAX_DEPTH", "MAX_DOCUMENT_BYTES", "MAX_ITEMS", "MAX_STRING_CHARS", "limit_problem", "too_large"]

MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
"""Largest document file or text accepted (16 MiB; the bundled examples are 2-3 KB)."""
MAX_DEPTH = 64
"""Deepest nesting of arrays and objects (the document itself is level 1; its nodes' configs are level 4).
Well below what the recursive JSON walkers (schema checks, copies, the saver) can descend."""
MAX_STRING_CHARS = 1_000_000
"""Longest string or object key."""
MAX_ITEMS = 100_000
"""Most members of one array or object."""


def _member_path(base: str, key: object) -> str:
    if isinstance(key, int):
        return f"{base}[{key}]"
    text = str(key)
    if text.isidentifier():
        return f"{base}.{text}"
    return f"{base}[{quoted_key(text if len(text) <= 40 else text[:40] + '...')}]"


def quoted_key(text: str) -> str:
    """An odd key of a JSON path in quotes: backslashes and quotes escaped, and every character that is not
    printable (line breaks, record separators, controls) written as an escape: a path is always one line."""
    escaped = text.replace("\\", "\\\\").replace("'", "\\'")
    shown = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in escaped)
    return f"'{shown}'"


def _size(count: int) -> str:
    return f"{count:,}"


def too_large(size: int) -> str:
    """The message for a document of `size` bytes (or characters) over `MAX_DOCUMENT_BYTES`."""
    return f"the document is {_size(size)} bytes; at most {_size(MAX_DOCUMENT_BYTES)} allowed"


def limit_problem(value: object, base: str = "$") -> tuple[str, str] | None:
    """(JSONPath, message) of the first place where `value` breaks a limit (nesting deeper than `MAX_DEPTH`,
    a string or key longer than `MAX_STRING_CHARS`, an array or object with more than `MAX_ITEMS` members),
    else None.

    Iterative (an explicit stack), so it is safe on any depth and on Python objects that contain themselves.
    Values that are not JSON (sets, objects) are left to the JSON checks that follow.
    """
    if isinstance(value, str) and len(value) > MAX_STRING_CHARS:
        return base, _long_string(len(value))
    stack: list[tuple[object, str, int]] = [(value, base, 1)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, Mapping):
            members: list[tuple[object, object]] = list(item.items())
        elif isinstance(item, list | tuple):
            members = list(enumerate(item))
        else:
            continue
        if depth > MAX_DEPTH:
            return path, f"nested too deeply: more than {MAX_DEPTH} levels of arrays and objects"
        if len(members) > MAX_ITEMS:
            kind = "object" if isinstance(item, Mapping) else "array"
            return path, f"{kind} of {_size(len(members))} members; at most {_size(MAX_ITEMS)} allowed"
        containers = []
        for key, member in members:
            if isinstance(key, str) and len(key) > MAX_STRING_CHARS:
                return (
                    path,
                    f"object key of {_size(len(key))} characters; at most {_size(MAX_STRING_CHARS)} allowed",
                )
            if isinstance(member, str):
                if len(member) > MAX_STRING_CHARS:
                    return _member_path(path, key), _long_string(len(member))
            elif isinstance(member, Mapping | list | tuple):
                containers.append((member, _member_path(path, key), depth + 1))
        stack.extend(reversed(containers))  # visited in document order: the first problem is reported
    return None


def _long_string(chars: int) -> str:
    return f"string of {_size(chars)} characters; at most {_size(MAX_STRING_CHARS)} allowed"
