"""The SQLite schema (Weavegraph 0.6 tables plus our additive extras), and the check that a file is ours."""

from __future__ import annotations

import sqlite3

from engine.persistence.errors import NotACheckpointDatabase

SCHEMA_VERSION = "1"

# The two Weavegraph 0.6 tables, column for column. Databases written by Weavegraph hold exactly these.
WEAVEGRAPH_TABLES = """
CREATE TABLE IF NOT EXISTS sessions (
    id                      TEXT PRIMARY KEY,
    created_at              TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at              TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    concurrency_limit       INTEGER NOT NULL,
    last_step               INTEGER NOT NULL DEFAULT 0,
    last_state_json         TEXT,
    last_frontier_json      TEXT,
    last_versions_seen_json TEXT
);
CREATE INDEX IF NOT EXISTS idx_sessions_updated_at ON sessions(updated_at DESC);
CREATE TABLE IF NOT EXISTS steps (
    session_id            TEXT NOT NULL,
    step                  INTEGER NOT NULL,
    created_at            TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    state_json            TEXT NOT NULL,
    frontier_json         TEXT NOT NULL,
    versions_seen_json    TEXT NOT NULL,
    ran_nodes_json        TEXT NOT NULL DEFAULT '[]',
    skipped_nodes_json    TEXT NOT NULL DEFAULT '[]',
    updated_channels_json TEXT,
    PRIMARY KEY (session_id, step),
    FOREIGN KEY (session_id) REFERENCES sessions(id) ON DELETE CASCADE
);
"""

# Additive extras. Weavegraph 0.6 names its columns in every statement, so it keeps working with them.
# - sessions.graph_hash: the graph definition hash the runner recorded.
# - steps.payload_bytes: UTF-8 size of the step's JSON, so sizes come from an index instead of the rows.
# - idx_steps_session_bytes covers (session, step, size): step counts and byte sums never read the rows.
# - idx_steps_unsized: partial index of rows written without payload_bytes (by Weavegraph 0.6).
EXTRA_COLUMNS = (
    ("sessions", "graph_hash", "TEXT"),
    ("steps", "payload_bytes", "INTEGER"),
)
EXTRA_OBJECTS = """
CREATE TABLE IF NOT EXISTS weavegraph_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS idx_steps_session_bytes ON steps(session_id, step, payload_bytes);
CREATE INDEX IF NOT EXISTS idx_steps_unsized ON steps(session_id) WHERE payload_bytes IS NULL;
CREATE INDEX IF NOT EXISTS idx_sessions_created_at ON sessions(created_at);
CREATE INDEX IF NOT EXISTS idx_sessions_last_step ON sessions(last_step);
"""

REQUIRED_COLUMNS = {
    "sessions": {
        "id",
        "created_at",
        "updated_at",
        "concurrency_limit",
        "last_step",
        "last_state_json",
        "last_frontier_json",
        "last_versions_seen_json",
    },
    "steps": {
        "session_id",
        "step",
        "created_at",
        "state_json",
        "frontier_json",
        "versions_seen_json",
        "ran_nodes_json",
        "skipped_nodes_json",
        "updated_channels_json",
    },
}

# Byte size of a row written without payload_bytes, computed from its columns.
COMPUTED_BYTES = (
    "(length(CAST(state_json AS BLOB)) + length(CAST(frontier_json AS BLOB))"
    " + length(CAST(versions_seen_json AS BLOB)) + COALESCE(length(CAST(ran_nodes_json AS BLOB)), 0)"
    " + COALESCE(length(CAST(skipped_nodes_json AS BLOB)), 0)"
    " + COALESCE(length(CAST(updated_channels_json AS BLOB)), 0))"
)


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def ensure_schema(conn: sqlite3.Connection, path: str, create: bool = True) -> bool:
    """Check that the database is empty or a checkpoint database, then create what is missing.

    With `create=False` an empty database is refused; a Weavegraph 0.6 one still gets the additive extras.

    Runs in one IMMEDIATE transaction so two processes opening a new file at once do not race.
    Raises `NotACheckpointDatabase` naming the file when it holds other tables. Returns whether anything
    was created or added.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        tables = {
            row[0]
            for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if not row[0].startswith("sqlite_")
        }
        missing = [t for t in REQUIRED_COLUMNS if t not in tables]
        if tables and missing:
            shown = ", ".join(sorted(tables)[:8])
            raise NotACheckpointDatabase(
                f"'{path}' is an SQLite database but not a checkpoint database: it has tables {shown} "
                f"and no {' or '.join(missing)} table; choose another file"
            )
        for table, required in REQUIRED_COLUMNS.items():
            if table in tables:
                lacking = required - _columns(conn, table)
                if lacking:
                    raise NotACheckpointDatabase(
                        f"'{path}' has a '{table}' table without the checkpoint columns "
                        f"{', '.join(sorted(lacking))}; it is not a checkpoint database"
                    )
        if not create and not tables:
            raise NotACheckpointDatabase(
                f"'{path}' holds no checkpoint tables (sessions, steps); open a database written by "
                "Weavegraph or Weavegraph Studio, or connect with create=True to initialise it"
            )
        before = conn.total_changes
        objects = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        for statement in _split(WEAVEGRAPH_TABLES):
            conn.execute(statement)
        for table, column, decl in EXTRA_COLUMNS:
            if column not in _columns(conn, table):
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
                objects = -1
        for statement in _split(EXTRA_OBJECTS):
            conn.execute(statement)
        conn.execute(
            "INSERT OR IGNORE INTO weavegraph_meta (key, value) VALUES ('schema_version', ?)",
            (SCHEMA_VERSION,),
        )
        changed = objects != conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        changed = changed or conn.total_changes != before
        conn.execute("COMMIT")
        return changed
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _split(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
