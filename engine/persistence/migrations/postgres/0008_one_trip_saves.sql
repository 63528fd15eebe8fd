-- 0008: a save in one round trip (issue 20). `weavegraph_save` does in one statement what a save did in six
-- to eight: lock the session row, check the expected step (and, for a compact delta, that the writer's base is
-- still the latest), upsert the session and the step, replace the step's node records, append its events and
-- keep the session info. It writes nothing and says why when a check fails:
--   status 0  written
--   status 1  conflict: the session's latest step is not the expected one (actual in `last_step`)
--   status 2  the delta's base is no longer the session's latest step: resend as a full snapshot
--   status 3  a compact overwrite (step <= latest): the caller runs its own transaction (dependent steps)
-- Rows stay Weavegraph 0.6's (full mode keeps the full state in sessions.last_state_json).
--
-- Weavegraph 0.6's GIN index on steps.ran_nodes_json is dropped: ran-node filters use weavegraph_step_nodes
-- (0003), and the index cost every step insert a GIN update. idx_steps_session_step_desc duplicates the
-- primary key (a btree reads backwards as well). Weavegraph 0.6 needs neither to read or write the rows.

DROP INDEX IF EXISTS idx_steps_ran_nodes_gin;
DROP INDEX IF EXISTS idx_steps_session_step_desc;

CREATE OR REPLACE FUNCTION weavegraph_save(
    p_sid TEXT, p_step BIGINT, p_created TIMESTAMPTZ, p_state TEXT, p_frontier TEXT, p_versions TEXT,
    p_ran TEXT, p_skipped TEXT, p_channels TEXT, p_bytes BIGINT, p_parent BIGINT,
    p_limit BIGINT, p_session_state TEXT, p_graph_hash TEXT, p_token TEXT,
    p_expected BIGINT, p_base_step BIGINT, p_base_token TEXT, p_compact BOOLEAN,
    p_records BOOLEAN, p_nodes TEXT[], p_statuses TEXT[], p_attempts INTEGER[], p_started TIMESTAMPTZ[],
    p_durations DOUBLE PRECISION[], p_outputs TEXT[], p_errors TEXT[],
    p_event_steps BIGINT[], p_events TEXT[],
    p_info BOOLEAN, p_parent_session TEXT, p_parent_session_step BIGINT, p_graph_name TEXT,
    OUT status INTEGER, OUT last_step BIGINT
) LANGUAGE plpgsql AS $$
DECLARE
    v_last BIGINT;
    v_empty BOOLEAN;
    v_digest TEXT;
BEGIN
    SELECT s.last_step, s.last_state_json IS NULL, s.state_digest INTO v_last, v_empty, v_digest
    FROM sessions s WHERE s.id = p_sid FOR UPDATE;
    IF NOT FOUND OR v_empty THEN
        v_last := NULL;
    END IF;
    last_step := v_last;
    IF p_expected IS NOT NULL AND v_last IS DISTINCT FROM p_expected THEN
        status := 1;
        RETURN;
    END IF;
    IF p_base_step IS NOT NULL AND (v_last IS DISTINCT FROM p_base_step OR v_digest IS DISTINCT FROM p_base_token)
    THEN
        status := 2;
        RETURN;
    END IF;
    IF p_compact AND v_last IS NOT NULL AND p_step <= v_last THEN
        status := 3;
        RETURN;
    END IF;

    INSERT INTO sessions AS s (id, created_at, updated_at, concurrency_limit, last_step, last_state_json,
                               last_frontier_json, last_versions_seen_json, graph_hash, state_digest)
    VALUES (p_sid, now(), clock_timestamp(), p_limit, p_step, p_session_state::jsonb, p_frontier::jsonb,
            p_versions::jsonb, p_graph_hash, p_token)
    ON CONFLICT (id) DO UPDATE SET
        updated_at = clock_timestamp(),
        concurrency_limit = excluded.concurrency_limit,
        last_step = excluded.last_step,
        last_state_json = excluded.last_state_json,
        last_frontier_json = excluded.last_frontier_json,
        last_versions_seen_json = excluded.last_versions_seen_json,
        graph_hash = COALESCE(excluded.graph_hash, s.graph_hash),
        state_digest = excluded.state_digest
    WHERE excluded.last_step >= s.last_step OR s.last_state_json IS NULL;

    INSERT INTO steps (session_id, step, created_at, state_json, frontier_json, versions_seen_json,
                       ran_nodes_json, skipped_nodes_json, updated_channels_json, payload_bytes, parent_step)
    VALUES (p_sid, p_step, p_created, p_state::jsonb, p_frontier::jsonb, p_versions::jsonb, p_ran::jsonb,
            p_skipped::jsonb, p_channels::jsonb, p_bytes, p_parent)
    ON CONFLICT (session_id, step) DO UPDATE SET
        created_at = excluded.created_at,
        state_json = excluded.state_json,
        frontier_json = excluded.frontier_json,
        versions_seen_json = excluded.versions_seen_json,
        ran_nodes_json = excluded.ran_nodes_json,
        skipped_nodes_json = excluded.skipped_nodes_json,
        updated_channels_json = excluded.updated_channels_json,
        payload_bytes = excluded.payload_bytes,
        parent_step = excluded.parent_step;

    IF p_events IS NOT NULL AND cardinality(p_events) > 0 THEN
        INSERT INTO wg_events (session_id, step, event_json)
        SELECT p_sid, e.step, e.body::jsonb FROM unnest(p_event_steps, p_events) WITH ORDINALITY AS e(step, body, n)
        ORDER BY e.n;
    END IF;
    IF p_info THEN
        INSERT INTO wg_session_info (session_id, parent_session, parent_step, graph_name)
        VALUES (p_sid, p_parent_session, p_parent_session_step, p_graph_name)
        ON CONFLICT (session_id) DO UPDATE SET
            parent_session = COALESCE(excluded.parent_session, wg_session_info.parent_session),
            parent_step = COALESCE(excluded.parent_step, wg_session_info.parent_step),
            graph_name = COALESCE(excluded.graph_name, wg_session_info.graph_name);
    END IF;
    IF p_records THEN
        DELETE FROM wg_node_records r WHERE r.session_id = p_sid AND r.step = p_step;  -- an overwrite's
        IF cardinality(p_nodes) > 0 THEN
            INSERT INTO wg_node_records (session_id, step, idx, node, status, attempts, started_at, duration_ms,
                                         output_json, error_json)
            SELECT p_sid, p_step, (r.n - 1)::integer, r.node, r.status, r.attempts, r.started, r.ms,
                   r.output::jsonb, r.error::jsonb
            FROM unnest(p_nodes, p_statuses, p_attempts, p_started, p_durations, p_outputs, p_errors)
                 WITH ORDINALITY AS r(node, status, attempts, started, ms, output, error, n);
        END IF;
    END IF;
    status := 0;
END;
$$;

-- Group commit (issue 20): several saves in one statement, so one transaction and one round trip. Item i is
-- element i of each array; its node records are the next p_rec_count[i] elements of the record arrays and its
-- events the next p_event_count[i] of the event arrays. One (status, last_step) row per item, in order; an item
-- that fails its checks writes nothing and the others still commit.
CREATE OR REPLACE FUNCTION weavegraph_save_group(
    p_sid TEXT[], p_step BIGINT[], p_created TIMESTAMPTZ[], p_state TEXT[], p_frontier TEXT[], p_versions TEXT[],
    p_ran TEXT[], p_skipped TEXT[], p_channels TEXT[], p_bytes BIGINT[], p_parent BIGINT[],
    p_limit BIGINT[], p_session_state TEXT[], p_graph_hash TEXT[], p_token TEXT[],
    p_expected BIGINT[], p_base_step BIGINT[], p_base_token TEXT[], p_compact BOOLEAN,
    p_records BOOLEAN[], p_rec_count INTEGER[], p_nodes TEXT[], p_statuses TEXT[], p_attempts INTEGER[],
    p_started TIMESTAMPTZ[], p_durations DOUBLE PRECISION[], p_outputs TEXT[], p_errors TEXT[],
    p_event_count INTEGER[], p_event_steps BIGINT[], p_events TEXT[],
    p_info BOOLEAN[], p_parent_session TEXT[], p_parent_session_step BIGINT[], p_graph_name TEXT[]
) RETURNS TABLE (status INTEGER, last_step BIGINT) LANGUAGE plpgsql AS $$
DECLARE
    r INTEGER := 0;
    e INTEGER := 0;
    nr INTEGER;
    ne INTEGER;
    res RECORD;
BEGIN
    -- lock the group's existing sessions in one order (by id), so two processes writing groups of the same
    -- sessions wait for each other instead of deadlocking
    PERFORM 1 FROM sessions s WHERE s.id = ANY (p_sid) ORDER BY s.id FOR UPDATE;
    FOR i IN 1 .. coalesce(cardinality(p_sid), 0) LOOP
        nr := p_rec_count[i];
        ne := p_event_count[i];
        SELECT * INTO res FROM weavegraph_save(
            p_sid[i], p_step[i], p_created[i], p_state[i], p_frontier[i], p_versions[i], p_ran[i], p_skipped[i],
            p_channels[i], p_bytes[i], p_parent[i], p_limit[i], p_session_state[i], p_graph_hash[i], p_token[i],
            p_expected[i], p_base_step[i], p_base_token[i], p_compact, p_records[i],
            p_nodes[r + 1 : r + nr], p_statuses[r + 1 : r + nr], p_attempts[r + 1 : r + nr],
            p_started[r + 1 : r + nr], p_durations[r + 1 : r + nr], p_outputs[r + 1 : r + nr],
            p_errors[r + 1 : r + nr], p_event_steps[e + 1 : e + ne], p_events[e + 1 : e + ne],
            p_info[i], p_parent_session[i], p_parent_session_step[i], p_graph_name[i]);
        r := r + nr;
        e := e + ne;
        status := res.status;
        last_step := res.last_step;
        RETURN NEXT;
    END LOOP;
END;
$$;
