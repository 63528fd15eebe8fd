"""The SQLite schema (Weavegraph 0.6 tables plus our additive extras), and the check that a file is ours."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from engine.errors import CheckpointerError
from engine.persistence.compact import DEFAULT_SNAPSHOT_EVERY, default_mode
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
# - steps.payload_bytes: UTF-8 size of the step's JSON as written.
# - weavegraph_session_counts: steps, bytes and min/max step per session, kept by triggers (so by every
#   writer, Weavegraph 0.6 included), so totals and sizes never count rows.
# - weavegraph_step_nodes: (session, plain node name, step) for every node that ran, kept by triggers; an
#   exact `ran_node` filter is an index range, never a scan of the steps' JSON.
# - weavegraph_node_counts: how many steps of a session ran each node (kept by triggers on step_nodes).
# - steps.parent_step: in compact mode, the step a delta state applies to (NULL for a full snapshot).
# - sessions.state_digest: a random token written with each save (older files: a digest of the state), so
#   a writer knows whether its record of the latest step is current.
EXTRA_COLUMNS = (
    ("sessions", "graph_hash", "TEXT"),
    ("steps", "payload_bytes", "INTEGER"),
    ("steps", "parent_step", "INTEGER"),
    ("sessions", "state_digest", "TEXT"),
)


def _bytes(row: str) -> str:
    """Size of a steps row: payload_bytes, or for rows without it (Weavegraph 0.6) its JSON lengths."""
    return (
        f"COALESCE({row}.payload_bytes, length(CAST({row}.state_json AS BLOB))"
        f" + length(CAST({row}.frontier_json AS BLOB)) + length(CAST({row}.versions_seen_json AS BLOB))"
        f" + COALESCE(length(CAST({row}.ran_nodes_json AS BLOB)), 0)"
        f" + COALESCE(length(CAST({row}.skipped_nodes_json AS BLOB)), 0)"
        f" + COALESCE(length(CAST({row}.updated_channels_json AS BLOB)), 0))"
    )


# The plain name of a stored node ("Custom:A", `Custom("A")` and "A" are all "A"; "Start"/"End" stay).
NODE_NAME = (
    "(CASE WHEN substr(value, 1, 7) = 'Custom:' THEN substr(value, 8)"
    " WHEN substr(value, 1, 8) = 'Custom(\"' AND substr(value, -2) = '\")'"
    " THEN substr(value, 9, length(value) - 10)"
    " ELSE value END)"
)

COUNTS_TABLE = "weavegraph_session_counts"
NODES_TABLE = "weavegraph_step_nodes"
NODE_COUNTS_TABLE = "weavegraph_node_counts"

EXTRA_OBJECTS = [
    "CREATE TABLE IF NOT EXISTS weavegraph_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS idx_sessions_created_at ON sessions(created_at)",
    "CREATE INDEX IF NOT EXISTS idx_sessions_last_step ON sessions(last_step)",
    # Delta steps by parent (compact mode), for prune's chain repair; full-mode rows are not indexed at all.
    "CREATE INDEX IF NOT EXISTS idx_steps_parent ON steps(session_id, parent_step)"
    " WHERE parent_step IS NOT NULL",
    f"CREATE TABLE IF NOT EXISTS {COUNTS_TABLE} (session_id TEXT PRIMARY KEY, steps INTEGER NOT NULL,"
    " bytes INTEGER NOT NULL, min_step INTEGER, max_step INTEGER) WITHOUT ROWID",
    f"CREATE TABLE IF NOT EXISTS {NODES_TABLE} (session_id TEXT NOT NULL, node TEXT NOT NULL,"
    " step INTEGER NOT NULL, PRIMARY KEY (session_id, node, step)) WITHOUT ROWID",
    f"CREATE TABLE IF NOT EXISTS {NODE_COUNTS_TABLE} (session_id TEXT NOT NULL, node TEXT NOT NULL,"
    " steps INTEGER NOT NULL, PRIMARY KEY (session_id, node)) WITHOUT ROWID",
    f"""CREATE TRIGGER IF NOT EXISTS weavegraph_step_nodes_ai AFTER INSERT ON {NODES_TABLE} BEGIN
        INSERT INTO {NODE_COUNTS_TABLE} (session_id, node, steps) VALUES (NEW.session_id, NEW.node, 1)
        ON CONFLICT (session_id, node) DO UPDATE SET steps = steps + 1;
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS weavegraph_step_nodes_ad AFTER DELETE ON {NODES_TABLE} BEGIN
        UPDATE {NODE_COUNTS_TABLE} SET steps = steps - 1
        WHERE session_id = OLD.session_id AND node = OLD.node;
        DELETE FROM {NODE_COUNTS_TABLE} WHERE session_id = OLD.session_id AND node = OLD.node AND steps <= 0;
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS weavegraph_steps_ai AFTER INSERT ON steps BEGIN
        INSERT INTO {COUNTS_TABLE} (session_id, steps, bytes, min_step, max_step)
        VALUES (NEW.session_id, 1, {_bytes("NEW")}, NEW.step, NEW.step)
        ON CONFLICT (session_id) DO UPDATE SET steps = steps + 1, bytes = bytes + excluded.bytes,
            min_step = min(min_step, excluded.min_step), max_step = max(max_step, excluded.max_step);
        INSERT OR IGNORE INTO {NODES_TABLE} (session_id, node, step)
        SELECT NEW.session_id, {NODE_NAME}, NEW.step FROM json_each(NEW.ran_nodes_json) WHERE type = 'text';
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS weavegraph_steps_au AFTER UPDATE ON steps BEGIN
        UPDATE {COUNTS_TABLE} SET bytes = bytes - {_bytes("OLD")} + {_bytes("NEW")}
        WHERE session_id = NEW.session_id;
        DELETE FROM {NODES_TABLE} WHERE session_id = OLD.session_id AND step = OLD.step
            AND node IN (SELECT {NODE_NAME} FROM json_each(OLD.ran_nodes_json) WHERE type = 'text');
        INSERT OR IGNORE INTO {NODES_TABLE} (session_id, node, step)
        SELECT NEW.session_id, {NODE_NAME}, NEW.step FROM json_each(NEW.ran_nodes_json) WHERE type = 'text';
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS weavegraph_steps_ad AFTER DELETE ON steps BEGIN
        UPDATE {COUNTS_TABLE} SET steps = steps - 1, bytes = bytes - {_bytes("OLD")},
            min_step = (SELECT min(step) FROM steps WHERE session_id = OLD.session_id),
            max_step = (SELECT max(step) FROM steps WHERE session_id = OLD.session_id)
        WHERE session_id = OLD.session_id;
        DELETE FROM {COUNTS_TABLE} WHERE session_id = OLD.session_id AND steps <= 0;
        DELETE FROM {NODES_TABLE} WHERE session_id = OLD.session_id AND step = OLD.step
            AND node IN (SELECT {NODE_NAME} FROM json_each(OLD.ran_nodes_json) WHERE type = 'text');
    END""",
]

# Fill each trigger-kept table created now from rows written before it existed (e.g. a Weavegraph 0.6 file).
# Filling the node table fires its trigger, which fills the node counts.
BACKFILL = {
    COUNTS_TABLE: f"INSERT OR REPLACE INTO {COUNTS_TABLE} (session_id, steps, bytes, min_step, max_step)"
    f" SELECT t.session_id, count(*), sum({_bytes('t')}), min(t.step), max(t.step) FROM steps t"
    " GROUP BY t.session_id",
    NODES_TABLE: f"INSERT OR IGNORE INTO {NODES_TABLE} (session_id, node, step)"
    f" SELECT t.session_id, {NODE_NAME}, t.step FROM steps t, json_each(t.ran_nodes_json)"
    " WHERE type = 'text'",
    NODE_COUNTS_TABLE: f"INSERT OR REPLACE INTO {NODE_COUNTS_TABLE} (session_id, node, steps)"
    f" SELECT session_id, node, count(*) FROM {NODES_TABLE} GROUP BY session_id, node",
}

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

COMPUTED_BYTES = _bytes("steps")
"""Size of a `steps` row in a query over `steps`."""


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


@dataclass(frozen=True, slots=True)
class SchemaInfo:
    changed: bool
    """Whether anything was created or added."""
    storage_mode: str
    """"compact" or "full", as recorded in weavegraph_meta."""
    snapshot_every: int


def _meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM weavegraph_meta WHERE key = ?", (key,)).fetchone()
    return str(row[0]) if row is not None else None


def ensure_schema(
    conn: sqlite3.Connection,
    path: str,
    create: bool = True,
    storage_mode: str | None = None,
    snapshot_every: int | None = None,
) -> SchemaInfo:
    """Check that the database is empty or a checkpoint database, then create what is missing.

    With `create=False` an empty database is refused; a Weavegraph 0.6 one still gets the additive extras.

    Runs in one IMMEDIATE transaction so two processes opening a new file at once do not race.
    Raises `NotACheckpointDatabase` naming the file when it holds other tables. A new database records
    `storage_mode` (default `compact.default_mode()`) and `snapshot_every`; an existing one without a
    recorded mode (written by Weavegraph 0.6) is "full". Asking for the other mode of an existing one
    raises `CheckpointerError`.
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
        for statement in EXTRA_OBJECTS:
            conn.execute(statement)
        for table in (COUNTS_TABLE, NODES_TABLE, NODE_COUNTS_TABLE):
            if table not in tables and not (table == NODE_COUNTS_TABLE and NODES_TABLE not in tables):
                conn.execute(BACKFILL[table])
        conn.execute(
            "INSERT OR IGNORE INTO weavegraph_meta (key, value) VALUES ('schema_version', ?)",
            (SCHEMA_VERSION,),
        )
        recorded = _meta(conn, "storage_mode")
        if recorded is None:
            recorded = (storage_mode or default_mode()) if not tables else "full"
            conn.execute("INSERT INTO weavegraph_meta (key, value) VALUES ('storage_mode', ?)", (recorded,))
        elif storage_mode is not None and storage_mode != recorded:
            raise CheckpointerError(
                f"'{path}' stores checkpoints in {recorded} mode, not {storage_mode}; open it without a "
                "mode, or convert it with `weavegraph export` and `weavegraph import`"
            )
        changed = objects != conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        changed = changed or conn.total_changes != before
        every = snapshot_every or int(_meta(conn, "snapshot_every") or DEFAULT_SNAPSHOT_EVERY)
        if _meta(conn, "snapshot_every") != str(every):
            conn.execute(
                "INSERT INTO weavegraph_meta (key, value) VALUES ('snapshot_every', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(every),),
            )
        conn.execute("COMMIT")
        return SchemaInfo(changed, recorded, every)
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _split(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
