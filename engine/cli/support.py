"""Shared pieces of the `weavegraph` command line: errors with exit codes, output, progress bars, `--input`
parsing and opening databases with passwords kept out of every message."""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO, Any

from jsonschema import Draft202012Validator

from engine.errors import EngineError
from engine.types import JSON

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class CliError(EngineError):
    """A command cannot go on; `lines` are printed on stderr and the process exits with `code`."""

    def __init__(self, message: str, code: int = EXIT_USAGE, lines: list[str] | None = None) -> None:
        self.code = code
        self.lines = lines if lines is not None else [message]
        super().__init__(message)


class Secrets:
    """Database URLs whose passwords must never be printed; `scrub` removes them from any text."""

    def __init__(self) -> None:
        self._urls: list[Any] = []

    def add_url(self, url: Any) -> None:
        from engine.persistence.errors import InvalidCheckpointerUrl
        from engine.persistence.urls import DatabaseURL

        try:
            self._urls.append(DatabaseURL.parse(url))
        except InvalidCheckpointerUrl:
            self._urls.append(str(url))  # still scrubbed as text (scrub finds user:password@ and password=)

    def scrub(self, text: str) -> str:
        from engine.persistence.urls import scrub

        for url in self._urls:
            text = scrub(text, url)
        return scrub(text)


SECRETS = Secrets()


def emit_json(value: JSON, stream: IO[str] | None = None) -> None:
    """One JSON value on one line of stdout."""
    out = stream if stream is not None else sys.stdout
    out.write(json.dumps(value, ensure_ascii=False, default=str) + "\n")
    out.flush()


def say(text: str = "", stream: IO[str] | None = None) -> None:
    out = stream if stream is not None else sys.stdout
    out.write(SECRETS.scrub(text) + "\n")


def warn(text: str) -> None:
    sys.stderr.write(SECRETS.scrub(text) + "\n")
    sys.stderr.flush()


class Progress:
    """A small progress bar on stderr, drawn only on a terminal or when forced (`--progress`); at most
    ten redraws a second. Use as a context manager; `advance(n)` moves it."""

    def __init__(
        self, label: str, total: int | None, *, enabled: bool | None = None, width: int = 30
    ) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.width = width
        stream = sys.stderr
        self.enabled = enabled if enabled is not None else bool(getattr(stream, "isatty", lambda: False)())
        self._last = 0.0
        self._drawn = False

    def __enter__(self) -> Progress:
        self._draw(force=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self._draw(force=True)
        if self.enabled and self._drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()

    def advance(self, count: int = 1) -> None:
        self.done += count
        self._draw()

    def set_total(self, total: int) -> None:
        self.total = total
        self._draw(force=True)

    def render(self) -> str:
        if self.total:
            frac = min(1.0, self.done / self.total)
            filled = round(frac * self.width)
            bar = "#" * filled + "-" * (self.width - filled)
            return f"{self.label} [{bar}] {self.done}/{self.total} {int(frac * 100):3d}%"
        return f"{self.label} {self.done}"

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        self._drawn = True
        sys.stderr.write("\r" + self.render())
        sys.stderr.flush()


# ---------------------------------------------------------------- --input


def _input_validator() -> Draft202012Validator:
    from engine.graph.doc_checks import document_schema

    defs = document_schema()["$defs"]
    return Draft202012Validator({"$ref": "#/$defs/input", "$defs": defs})


def parse_input_option(text: str) -> dict[str, JSON]:
    """`--input` value: a JSON object `{"messages": [...], "extra": {...}}` or `@file`; CliError (exit 2)
    listing every problem otherwise."""
    source = "--input"
    if text.startswith("@"):
        path = Path(text[1:])
        source = f"--input {path}"
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise CliError(f"{source}: cannot read: {exc.strerror or exc}") from exc
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(
            f"{source}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    from engine.graph.node_types import json_path_join, schema_message

    errors = list(_input_validator().iter_errors(value))
    if errors:
        lines = [f"{source}: {json_path_join('$', e.absolute_path)}: {schema_message(e)}" for e in errors]
        raise CliError(lines[0], lines=lines)
    extra = set(value) - {"messages", "extra"}
    if extra:
        raise CliError(f'{source}: unknown key(s) {", ".join(sorted(extra))}; use "messages" and "extra"')
    result: dict[str, JSON] = value
    return result


# ---------------------------------------------------------------- databases


def default_db_url() -> str:
    """The SQLite resolution of ENGINE.md section 6 (env, `.env`, `sqlite://weavegraph.db`)."""
    from engine.persistence.base import CheckpointerType
    from engine.persistence.factory import resolve_url

    return resolve_url(CheckpointerType.SQLITE)


def shown_url(url: Any) -> str:
    """How a database URL is printed: without its password."""
    from engine.persistence.errors import InvalidCheckpointerUrl
    from engine.persistence.urls import DatabaseURL, scrub

    try:
        return DatabaseURL.parse(url).redacted()
    except InvalidCheckpointerUrl:
        return scrub(str(url))


@asynccontextmanager
async def opened_checkpointer(
    url: str, *, create: bool = True, read_only: bool = False
) -> AsyncIterator[Any]:
    """Open the checkpointer at `url` (its password registered for scrubbing) and close it after. With
    `create=False` a missing SQLite file is an error instead of a new empty database. Failing to open is a
    CliError (exit 2) whose message never holds the password."""
    from engine.errors import CheckpointerError
    from engine.persistence.factory import open_checkpointer

    SECRETS.add_url(url)
    try:
        checkpointer = await open_checkpointer(url, create=create, read_only=read_only)
    except CheckpointerError as exc:
        raise CliError(f"cannot open {shown_url(url)}: {SECRETS.scrub(str(exc))}") from exc
    try:
        yield checkpointer
    finally:
        await checkpointer.aclose()


# ---------------------------------------------------------------- output helpers


def db_url(args: argparse.Namespace) -> str:
    """`--db`, else the SQLite resolution of ENGINE.md section 6."""
    return str(args.db) if args.db else default_db_url()


def human_bytes(count: int | None) -> str:
    if count is None:
        return "-"
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def when(value: _dt.datetime | None) -> str:
    return value.astimezone(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def table(headers: list[str], rows: list[list[str]]) -> list[str]:
    """Left-aligned columns two spaces apart."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return lines


async def require_session(cp: Any, session_id: str, url: str) -> None:
    if await cp.load_latest(session_id) is None:
        raise CliError(f"no session '{session_id}' in {shown_url(url)}")
