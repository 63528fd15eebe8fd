-- 0001: the Weavegraph 0.6 tables, column for column. Idempotent, so it also applies to a file Weavegraph made.

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
