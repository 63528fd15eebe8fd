"""Versioned schema migrations, the same way for both SQL backends.

Each backend has numbered SQL files in `engine/persistence/migrations/<backend>/` (`0001_name.sql`,
`0002_name.sql`, ...). A database records ONE number, its schema version, in the table
`weavegraph_schema_version` (one row). Opening a database applies the files numbered above it, in order, in
one transaction that first takes the backend's write lock (SQLite `BEGIN IMMEDIATE`, Postgres an advisory
lock) and re-reads the version, so concurrent openers apply each file once. A database whose version is
above the newest file raises `SchemaTooNew` and is not touched.

Adding a migration: drop the next numbered file into the backend's folder; nothing else changes. Files must
be idempotent against databases made before versioning (use `IF NOT EXISTS`; on SQLite, an
`ALTER TABLE t ADD COLUMN c ...` statement is skipped when the column already exists).
"""

from __future__ import annotations

import importlib.resources
import re
from dataclasses import dataclass
from functools import cache

from engine.errors import CheckpointerError
from engine.persistence.errors import SchemaTooNew

VERSION_TABLE = "weavegraph_schema_version"
CREATE_VERSION_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (id INTEGER PRIMARY KEY CHECK (id = 1),"
    " version INTEGER NOT NULL)"
)
SET_VERSION = {
    "sqlite": f"INSERT INTO {VERSION_TABLE} (id, version) VALUES (1, ?)"
    " ON CONFLICT (id) DO UPDATE SET version = excluded.version",
    "postgres": f"INSERT INTO {VERSION_TABLE} (id, version) VALUES (1, $1)"
    " ON CONFLICT (id) DO UPDATE SET version = excluded.version",
}
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    number: int
    name: str
    """The file name without ".sql" (what `weavegraph migrate` reports)."""
    sql: str


@cache
def migrations(backend: str) -> tuple[Migration, ...]:
    """The shipped migrations of "sqlite" or "postgres", numbered 1, 2, ... without gaps."""
    folder = importlib.resources.files("engine.persistence").joinpath("migrations", backend)
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), entry.name[:-4], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.number)
    if [m.number for m in found] != list(range(1, len(found) + 1)):
        raise CheckpointerError(f"the {backend} migrations are not numbered 1..n: {[m.name for m in found]}")
    return tuple(found)


def latest(backend: str) -> int:
    """The schema version this code writes."""
    return len(migrations(backend))


def pending(backend: str, current: int, where: str) -> list[Migration]:
    """The migrations above `current`; `SchemaTooNew` when the database is newer than this code."""
    newest = latest(backend)
    if current > newest:
        raise SchemaTooNew(where, current, newest)
    return [m for m in migrations(backend) if m.number > current]


_ADD_COLUMN = re.compile(r"^\s*ALTER\s+TABLE\s+(\w+)\s+ADD\s+COLUMN\s+(\w+)", re.IGNORECASE)


def sqlite_statements(sql: str) -> list[str]:
    """A script split into complete statements (trigger bodies stay whole), comments dropped."""
    import sqlite3

    out: list[str] = []
    buffer = ""
    for line in sql.splitlines():
        if not buffer and line.lstrip().startswith("--"):
            continue
        buffer += line + "\n"
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                out.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        out.append(buffer.strip())
    return out


def added_column(statement: str) -> tuple[str, str] | None:
    """(table, column) when the statement is an `ALTER TABLE ... ADD COLUMN` (skipped if it exists)."""
    match = _ADD_COLUMN.match(statement)
    return (match[1], match[2]) if match else None
