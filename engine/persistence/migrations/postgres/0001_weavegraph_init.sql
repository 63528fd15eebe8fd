-- 0001: the Weavegraph 0.6 schema (sessions with a denormalised latest checkpoint, steps with full history).
-- Idempotent, so it also applies cleanly to a database that Weavegraph itself created.

CREATE TABLE IF NOT EXISTS sessions (
    id                      TEXT PRIMARY KEY,
    created_at              TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at              TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    concurrency_limit       BIGINT NOT NULL,
    last_step               BIGINT NOT NULL DEFAULT 0,
    last_state_json         JSONB,
    last_frontier_json      JSONB,
    last_versions_seen_json JSONB
);

CREATE INDEX IF NOT EXISTS idx_sessions_updated_at ON sessions (updated_at DESC);

CREATE TABLE IF NOT EXISTS steps (
    session_id            TEXT NOT NULL,
    step                  BIGINT NOT NULL,
    created_at            TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    state_json            JSONB NOT NULL,
    frontier_json         JSONB NOT NULL,
    versions_seen_json    JSONB NOT NULL,
    ran_nodes_json        JSONB NOT NULL,
    skipped_nodes_json    JSONB NOT NULL,
    updated_channels_json JSONB,
    PRIMARY KEY (session_id, step),
    FOREIGN KEY (session_id) REFERENCES sessions (id) ON DELETE CASCADE
);

CREATE INDEX IF NOT EXISTS idx_steps_session_step_desc ON steps (session_id, step DESC);
CREATE INDEX IF NOT EXISTS idx_steps_ran_nodes_gin ON steps USING GIN (ran_nodes_json);
