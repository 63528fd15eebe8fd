-- 0004: compact storage. A step's state_json may hold a delta from the step in parent_step (NULL for a full
-- snapshot); sessions.state_digest is the digest of last_state_json that a writer checks before storing a
-- delta against its own copy of that state. The storage mode is recorded in weavegraph_meta.

ALTER TABLE steps ADD COLUMN IF NOT EXISTS parent_step BIGINT;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS state_digest TEXT;
