-- 0004: compact storage. A step's state_json may hold a delta from the step in parent_step (NULL for a full
-- snapshot); sessions.state_digest is the token a writer checks before storing a delta against its own copy.

ALTER TABLE steps ADD COLUMN parent_step INTEGER;

ALTER TABLE sessions ADD COLUMN state_digest TEXT;

CREATE INDEX IF NOT EXISTS idx_steps_parent ON steps(session_id, parent_step) WHERE parent_step IS NOT NULL;
