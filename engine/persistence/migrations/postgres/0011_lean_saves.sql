-- 0011: less server work per save (issue 20). Measured with pg_stat_statements, a single `weavegraph_save` of
-- workload 5 spent most of its server time in the triggers on `steps` (the counts of 0003/0009 with their
-- transition tables, and the NOTIFY of 0002), not in writing its rows.
--
-- 1. Our save functions keep the counts, the node index and the NOTIFY themselves, in the statement that
--    inserts the step, and run with `weavegraph.inline_bookkeeping` set to 'on' (a SET clause: it holds for
--    the call only). The triggers on `steps` become row-level triggers that skip rows written while it is on.
--    Every other writer (Weavegraph 0.6, prune, the overwrite transaction of a compact save, imports) still
--    goes through the triggers, which keep the same counts as before (0003's row function); deletes always do.
-- 2. `weavegraph_save` tries the common save first: an UPDATE of the session row whose WHERE holds the checks
--    (locking and checking in one statement), then one statement that inserts the new step and keeps its
--    counts, node index, node records and NOTIFY. Anything else (a new session, a failed check, a step that
--    already exists, an older step in full mode) takes 0009's path, with the triggers doing the bookkeeping.
-- 3. `weavegraph_save_group` inserts the group's new steps with their bookkeeping in one statement the same
--    way; only steps that already exist (overwrites) go through an upsert with the triggers.
-- 4. Node records no longer carry a foreign key to their step (the check cost a query per saved record): a
--    record is only ever written by the statement or transaction that writes its step, which holds the step
--    row until it commits, and a trigger deletes a step's records with the step (prune, delete_session's
--    cascade, any other writer), as the key's ON DELETE CASCADE did.
-- Arguments, answers and stored rows are those of 0009.

ALTER TABLE wg_node_records DROP CONSTRAINT IF EXISTS wg_node_records_session_id_step_fkey;

CREATE OR REPLACE FUNCTION wg_node_records_step_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM wg_node_records WHERE session_id = OLD.session_id AND step = OLD.step;
    RETURN OLD;
END;
$$;

DROP TRIGGER IF EXISTS wg_node_records_step_deleted ON steps;
CREATE TRIGGER wg_node_records_step_deleted AFTER DELETE ON steps
    FOR EACH ROW EXECUTE FUNCTION wg_node_records_step_deleted();

DROP TRIGGER IF EXISTS weavegraph_steps_counts_insert ON steps;
DROP TRIGGER IF EXISTS weavegraph_steps_counts_update ON steps;
CREATE TRIGGER weavegraph_steps_counts_write AFTER INSERT OR UPDATE ON steps
    FOR EACH ROW WHEN (current_setting('weavegraph.inline_bookkeeping', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION weavegraph_steps_counts();

DROP TRIGGER IF EXISTS weavegraph_steps_notify ON steps;
CREATE TRIGGER weavegraph_steps_notify AFTER INSERT OR UPDATE ON steps
    FOR EACH ROW WHEN (current_setting('weavegraph.inline_bookkeeping', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION weavegraph_notify_step();

DROP FUNCTION IF EXISTS weavegraph_steps_counts_add();
DROP FUNCTION IF EXISTS weavegraph_steps_counts_update();

-- 0009's weavegraph_save, for the saves the common path does not take: the triggers keep the counts.
CREATE OR REPLACE FUNCTION weavegraph_save_general(
    p_sid TEXT, p_step BIGINT, p_created TIMESTAMPTZ, p_state TEXT, p_frontier TEXT, p_versions TEXT,
    p_ran TEXT, p_skipped TEXT, p_channels TEXT, p_bytes BIGINT, p_parent BIGINT,
    p_limit BIGINT, p_session_state TEXT, p_graph_hash TEXT, p_token TEXT,
    p_expected BIGINT, p_base_step BIGINT, p_base_token TEXT, p_compact BOOLEAN,
    p_records BOOLEAN, p_nodes TEXT[], p_statuses TEXT[], p_attempts INTEGER[], p_started TIMESTAMPTZ[],
    p_durations DOUBLE PRECISION[], p_outputs TEXT[], p_errors TEXT[],
    p_event_steps BIGINT[], p_events TEXT[],
    p_info BOOLEAN, p_parent_session TEXT, p_parent_session_step BIGINT, p_graph_name TEXT,
    OUT status INTEGER, OUT last_step BIGINT
) LANGUAGE plpgsql SET weavegraph.inline_bookkeeping = 'off' AS $$
DECLARE
    v_found BOOLEAN;
    v_last BIGINT;
    v_stored_last BIGINT;
    v_empty BOOLEAN;
    v_digest TEXT;
    v_state JSONB;
    v_frontier JSONB;
    v_versions JSONB;
    v_overwrote BOOLEAN;
BEGIN
    SELECT s.last_step, s.last_state_json IS NULL, s.state_digest INTO v_stored_last, v_empty, v_digest
    FROM sessions s WHERE s.id = p_sid FOR UPDATE;
    v_found := FOUND;
    v_last := CASE WHEN v_found AND NOT v_empty THEN v_stored_last END;
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

    v_state := p_state::jsonb;
    v_frontier := p_frontier::jsonb;
    v_versions := p_versions::jsonb;
    IF v_found THEN  -- locked above: a plain update (the latest pointer only moves forward)
        IF p_step >= v_stored_last OR v_empty THEN
            UPDATE sessions s SET
                updated_at = clock_timestamp(),
                concurrency_limit = p_limit,
                last_step = p_step,
                last_state_json = CASE WHEN p_session_state IS NULL THEN v_state ELSE p_session_state::jsonb END,
                last_frontier_json = v_frontier,
                last_versions_seen_json = v_versions,
                graph_hash = COALESCE(p_graph_hash, s.graph_hash),
                state_digest = p_token
            WHERE s.id = p_sid;
        END IF;
    ELSE
        INSERT INTO sessions AS s (id, created_at, updated_at, concurrency_limit, last_step, last_state_json,
                                   last_frontier_json, last_versions_seen_json, graph_hash, state_digest)
        VALUES (p_sid, now(), clock_timestamp(), p_limit, p_step,
                CASE WHEN p_session_state IS NULL THEN v_state ELSE p_session_state::jsonb END, v_frontier,
                v_versions, p_graph_hash, p_token)
        ON CONFLICT (id) DO UPDATE SET  -- another writer created it meanwhile
            updated_at = clock_timestamp(),
            concurrency_limit = excluded.concurrency_limit,
            last_step = excluded.last_step,
            last_state_json = excluded.last_state_json,
            last_frontier_json = excluded.last_frontier_json,
            last_versions_seen_json = excluded.last_versions_seen_json,
            graph_hash = COALESCE(excluded.graph_hash, s.graph_hash),
            state_digest = excluded.state_digest
        WHERE excluded.last_step >= s.last_step OR s.last_state_json IS NULL;
    END IF;

    INSERT INTO steps (session_id, step, created_at, state_json, frontier_json, versions_seen_json,
                       ran_nodes_json, skipped_nodes_json, updated_channels_json, payload_bytes, parent_step)
    VALUES (p_sid, p_step, p_created, v_state, v_frontier, v_versions, p_ran::jsonb,
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
        parent_step = excluded.parent_step
    RETURNING xmax <> 0 INTO v_overwrote;  -- an existing step was updated

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
        IF v_overwrote THEN  -- the old step's records go
            DELETE FROM wg_node_records r WHERE r.session_id = p_sid AND r.step = p_step;
        END IF;
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
) LANGUAGE plpgsql SET weavegraph.inline_bookkeeping = 'on' AS $$
DECLARE
    v_state JSONB;
    v_frontier JSONB;
    v_versions JSONB;
    v_written BIGINT;
BEGIN
    v_state := p_state::jsonb;
    v_frontier := p_frontier::jsonb;
    v_versions := p_versions::jsonb;
    -- the common save: a newer step of a session whose checks pass, locked, checked and moved in one UPDATE
    -- (under READ COMMITTED a concurrent writer's change is waited for and the WHERE is checked again)
    UPDATE sessions s SET
        updated_at = clock_timestamp(),
        concurrency_limit = p_limit,
        last_step = p_step,
        last_state_json = CASE WHEN p_session_state IS NULL THEN v_state ELSE p_session_state::jsonb END,
        last_frontier_json = v_frontier,
        last_versions_seen_json = v_versions,
        graph_hash = COALESCE(p_graph_hash, s.graph_hash),
        state_digest = p_token
    WHERE s.id = p_sid AND s.last_state_json IS NOT NULL AND p_step > s.last_step
      AND (p_expected IS NULL OR s.last_step = p_expected)
      AND (p_base_step IS NULL OR (s.last_step = p_base_step AND s.state_digest IS NOT DISTINCT FROM p_base_token))
    RETURNING COALESCE(p_expected, p_base_step, (SELECT o.last_step FROM sessions o WHERE o.id = p_sid))
        INTO last_step;  -- the latest step before this save, as 0009 answers (the subquery sees the old row)
    IF NOT FOUND THEN
        SELECT g.status, g.last_step INTO status, last_step FROM weavegraph_save_general(
            p_sid, p_step, p_created, p_state, p_frontier, p_versions, p_ran, p_skipped, p_channels, p_bytes,
            p_parent, p_limit, p_session_state, p_graph_hash, p_token, p_expected, p_base_step, p_base_token,
            p_compact, p_records, p_nodes, p_statuses, p_attempts, p_started, p_durations, p_outputs, p_errors,
            p_event_steps, p_events, p_info, p_parent_session, p_parent_session_step, p_graph_name) AS g;
        RETURN;
    END IF;

    -- the new step with what the triggers would have done: counts, node index, node records, NOTIFY
    WITH st AS (
        INSERT INTO steps (session_id, step, created_at, state_json, frontier_json, versions_seen_json,
                           ran_nodes_json, skipped_nodes_json, updated_channels_json, payload_bytes, parent_step)
        VALUES (p_sid, p_step, p_created, v_state, v_frontier, v_versions, p_ran::jsonb,
                p_skipped::jsonb, p_channels::jsonb, p_bytes, p_parent)
        ON CONFLICT (session_id, step) DO NOTHING
        RETURNING session_id, step, ran_nodes_json,
                  weavegraph_step_bytes(payload_bytes, state_json, frontier_json, versions_seen_json,
                                        ran_nodes_json, skipped_nodes_json, updated_channels_json) AS bytes
    ), counted AS (
        INSERT INTO weavegraph_session_counts AS c (session_id, steps, bytes, min_step, max_step)
        SELECT st.session_id, 1, st.bytes, st.step, st.step FROM st
        ON CONFLICT (session_id) DO UPDATE SET
            steps = c.steps + 1,
            bytes = c.bytes + excluded.bytes,
            min_step = LEAST(c.min_step, excluded.min_step),
            max_step = GREATEST(c.max_step, excluded.max_step)
    ), added AS (
        INSERT INTO weavegraph_step_nodes (session_id, node, step)
        SELECT st.session_id, name, st.step FROM st, weavegraph_nodes_of(st.ran_nodes_json) AS name
        ON CONFLICT DO NOTHING
        RETURNING session_id, node
    ), node_counted AS (
        INSERT INTO weavegraph_node_counts AS nc (session_id, node, steps)
        SELECT a.session_id, a.node, 1 FROM added a
        ON CONFLICT (session_id, node) DO UPDATE SET steps = nc.steps + 1
    ), records AS (
        INSERT INTO wg_node_records (session_id, step, idx, node, status, attempts, started_at, duration_ms,
                                     output_json, error_json)
        SELECT st.session_id, st.step, (r.n - 1)::integer, r.node, r.status, r.attempts, r.started, r.ms,
               r.output::jsonb, r.error::jsonb
        FROM st, unnest(p_nodes, p_statuses, p_attempts, p_started, p_durations, p_outputs, p_errors)
                 WITH ORDINALITY AS r(node, status, attempts, started, ms, output, error, n)
        WHERE p_records
    )
    SELECT count(*) INTO v_written FROM st,
        LATERAL (SELECT pg_notify('weavegraph_steps',
                                  json_build_object('session_id', st.session_id, 'step', st.step)::text)) AS n;
    IF v_written = 0 THEN  -- the step exists already (written by someone else): 0009's upsert, with triggers
        PERFORM weavegraph_save_step_again(p_sid, p_step, p_created, v_state, v_frontier, v_versions, p_ran,
                                           p_skipped, p_channels, p_bytes, p_parent, p_records, p_nodes,
                                           p_statuses, p_attempts, p_started, p_durations, p_outputs, p_errors);
    END IF;

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
    status := 0;
END;
$$;

-- A step of the common path that exists already: overwritten as 0009 did, the triggers keeping the counts.
CREATE OR REPLACE FUNCTION weavegraph_save_step_again(
    p_sid TEXT, p_step BIGINT, p_created TIMESTAMPTZ, p_state JSONB, p_frontier JSONB, p_versions JSONB,
    p_ran TEXT, p_skipped TEXT, p_channels TEXT, p_bytes BIGINT, p_parent BIGINT,
    p_records BOOLEAN, p_nodes TEXT[], p_statuses TEXT[], p_attempts INTEGER[], p_started TIMESTAMPTZ[],
    p_durations DOUBLE PRECISION[], p_outputs TEXT[], p_errors TEXT[]
) RETURNS void LANGUAGE plpgsql SET weavegraph.inline_bookkeeping = 'off' AS $$
BEGIN
    INSERT INTO steps (session_id, step, created_at, state_json, frontier_json, versions_seen_json,
                       ran_nodes_json, skipped_nodes_json, updated_channels_json, payload_bytes, parent_step)
    VALUES (p_sid, p_step, p_created, p_state, p_frontier, p_versions, p_ran::jsonb,
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
    IF p_records THEN
        DELETE FROM wg_node_records r WHERE r.session_id = p_sid AND r.step = p_step;
        INSERT INTO wg_node_records (session_id, step, idx, node, status, attempts, started_at, duration_ms,
                                     output_json, error_json)
        SELECT p_sid, p_step, (r.n - 1)::integer, r.node, r.status, r.attempts, r.started, r.ms,
               r.output::jsonb, r.error::jsonb
        FROM unnest(p_nodes, p_statuses, p_attempts, p_started, p_durations, p_outputs, p_errors)
             WITH ORDINALITY AS r(node, status, attempts, started, ms, output, error, n);
    END IF;
END;
$$;

-- The steps of a group that exist already (not inserted by the group's common statement): 0009's upsert,
-- the triggers keeping the counts. Returns the sessions whose step was overwritten.
CREATE OR REPLACE FUNCTION weavegraph_save_steps_again(
    p_sid TEXT[], p_step BIGINT[], p_created TIMESTAMPTZ[], p_state TEXT[], p_frontier TEXT[], p_versions TEXT[],
    p_ran TEXT[], p_skipped TEXT[], p_channels TEXT[], p_bytes BIGINT[], p_parent BIGINT[], p_status INTEGER[],
    p_inserted TEXT[]
) RETURNS TEXT[] LANGUAGE plpgsql SET weavegraph.inline_bookkeeping = 'off' AS $$
DECLARE
    v_overwrote TEXT[];
BEGIN
    WITH written AS (
        INSERT INTO steps (session_id, step, created_at, state_json, frontier_json, versions_seen_json,
                           ran_nodes_json, skipped_nodes_json, updated_channels_json, payload_bytes, parent_step)
        SELECT i.sid, i.step, i.created, i.state::jsonb, i.frontier::jsonb, i.versions::jsonb, i.ran::jsonb,
               i.skipped::jsonb, i.channels::jsonb, i.bytes, i.parent
        FROM unnest(p_sid, p_step, p_created, p_state, p_frontier, p_versions, p_ran, p_skipped, p_channels,
                    p_bytes, p_parent, p_status)
             AS i(sid, step, created, state, frontier, versions, ran, skipped, channels, bytes, parent, st)
        WHERE i.st = 0 AND i.sid <> ALL (coalesce(p_inserted, '{}'))
        ORDER BY i.sid
        ON CONFLICT (session_id, step) DO UPDATE SET
            created_at = excluded.created_at,
            state_json = excluded.state_json,
            frontier_json = excluded.frontier_json,
            versions_seen_json = excluded.versions_seen_json,
            ran_nodes_json = excluded.ran_nodes_json,
            skipped_nodes_json = excluded.skipped_nodes_json,
            updated_channels_json = excluded.updated_channels_json,
            payload_bytes = excluded.payload_bytes,
            parent_step = excluded.parent_step
        RETURNING steps.session_id, steps.xmax <> 0 AS overwrote
    )
    SELECT array_agg(w.session_id) INTO v_overwrote FROM written w WHERE w.overwrote;
    RETURN v_overwrote;
END;
$$;

-- Group commit (0009's arguments and answer), the group's new steps written with their bookkeeping in one
-- statement.
CREATE OR REPLACE FUNCTION weavegraph_save_group(
    p_sid TEXT[], p_step BIGINT[], p_created TIMESTAMPTZ[], p_state TEXT[], p_frontier TEXT[], p_versions TEXT[],
    p_ran TEXT[], p_skipped TEXT[], p_channels TEXT[], p_bytes BIGINT[], p_parent BIGINT[],
    p_limit BIGINT[], p_session_state TEXT[], p_graph_hash TEXT[], p_token TEXT[],
    p_expected BIGINT[], p_base_step BIGINT[], p_base_token TEXT[], p_compact BOOLEAN,
    p_records BOOLEAN[], p_rec_count INTEGER[], p_nodes TEXT[], p_statuses TEXT[], p_attempts INTEGER[],
    p_started TIMESTAMPTZ[], p_durations DOUBLE PRECISION[], p_outputs TEXT[], p_errors TEXT[],
    p_event_count INTEGER[], p_event_steps BIGINT[], p_events TEXT[],
    p_info BOOLEAN[], p_parent_session TEXT[], p_parent_session_step BIGINT[], p_graph_name TEXT[]
) RETURNS TABLE (status INTEGER, last_step BIGINT) LANGUAGE plpgsql SET weavegraph.inline_bookkeeping = 'on' AS $$
#variable_conflict use_column
DECLARE
    n INTEGER := coalesce(cardinality(p_sid), 0);
    v_status INTEGER[];
    v_last BIGINT[];
    v_found BOOLEAN[];
    v_new TEXT[];
    v_passed INTEGER;
    v_overwrote TEXT[];
BEGIN
    IF n = 0 THEN
        RETURN;
    END IF;
    -- lock the group's existing sessions in one order (by id), so two processes writing groups of the same
    -- sessions wait for each other instead of deadlocking
    PERFORM 1 FROM sessions s WHERE s.id = ANY (p_sid) ORDER BY s.id FOR UPDATE;
    IF (SELECT count(DISTINCT x) FROM unnest(p_sid) AS x) < n THEN
        RETURN QUERY SELECT g.status, g.last_step FROM weavegraph_save_group_serial(
            p_sid, p_step, p_created, p_state, p_frontier, p_versions, p_ran, p_skipped, p_channels, p_bytes,
            p_parent, p_limit, p_session_state, p_graph_hash, p_token, p_expected, p_base_step, p_base_token,
            p_compact, p_records, p_rec_count, p_nodes, p_statuses, p_attempts, p_started, p_durations,
            p_outputs, p_errors, p_event_count, p_event_steps, p_events, p_info, p_parent_session,
            p_parent_session_step, p_graph_name) AS g;
        RETURN;
    END IF;

    -- every item's checks, against the locked rows (as weavegraph_save does them)
    SELECT array_agg(c.st ORDER BY c.k), array_agg(c.last ORDER BY c.k), array_agg(c.found ORDER BY c.k),
           count(*) FILTER (WHERE c.st = 0)
    INTO v_status, v_last, v_found, v_passed
    FROM (
        SELECT i.k,
               CASE
                   WHEN i.expected IS NOT NULL AND l.last IS DISTINCT FROM i.expected THEN 1
                   WHEN i.base_step IS NOT NULL
                        AND (l.last IS DISTINCT FROM i.base_step OR l.digest IS DISTINCT FROM i.base_token) THEN 2
                   WHEN p_compact AND l.last IS NOT NULL AND i.step <= l.last THEN 3
                   ELSE 0
               END AS st,
               l.last, l.found
        FROM unnest(p_sid, p_step, p_expected, p_base_step, p_base_token)
             WITH ORDINALITY AS i(sid, step, expected, base_step, base_token, k)
        LEFT JOIN LATERAL (
            SELECT CASE WHEN s.last_state_json IS NULL THEN NULL ELSE s.last_step END AS last,
                   s.state_digest AS digest, true AS found
            FROM sessions s WHERE s.id = i.sid
        ) l ON true
    ) c;

    UPDATE sessions AS s SET
        updated_at = clock_timestamp(),
        concurrency_limit = i.lim,
        last_step = i.step,
        last_state_json = COALESCE(i.sstate, i.state)::jsonb,
        last_frontier_json = i.frontier::jsonb,
        last_versions_seen_json = i.versions::jsonb,
        graph_hash = COALESCE(i.hash, s.graph_hash),
        state_digest = i.token
    FROM unnest(p_sid, p_step, p_limit, p_session_state, p_state, p_frontier, p_versions, p_graph_hash, p_token,
                v_status, v_found) AS i(sid, step, lim, sstate, state, frontier, versions, hash, token, st, found)
    WHERE i.st = 0 AND i.found AND s.id = i.sid AND (i.step >= s.last_step OR s.last_state_json IS NULL);

    INSERT INTO sessions AS s (id, created_at, updated_at, concurrency_limit, last_step, last_state_json,
                               last_frontier_json, last_versions_seen_json, graph_hash, state_digest)
    SELECT i.sid, now(), clock_timestamp(), i.lim, i.step, COALESCE(i.sstate, i.state)::jsonb, i.frontier::jsonb,
           i.versions::jsonb, i.hash, i.token
    FROM unnest(p_sid, p_step, p_limit, p_session_state, p_state, p_frontier, p_versions, p_graph_hash, p_token,
                v_status, v_found) AS i(sid, step, lim, sstate, state, frontier, versions, hash, token, st, found)
    WHERE i.st = 0 AND i.found IS NOT TRUE
    ORDER BY i.sid
    ON CONFLICT (id) DO UPDATE SET  -- another writer created it meanwhile
        updated_at = clock_timestamp(),
        concurrency_limit = excluded.concurrency_limit,
        last_step = excluded.last_step,
        last_state_json = excluded.last_state_json,
        last_frontier_json = excluded.last_frontier_json,
        last_versions_seen_json = excluded.last_versions_seen_json,
        graph_hash = COALESCE(excluded.graph_hash, s.graph_hash),
        state_digest = excluded.state_digest
    WHERE excluded.last_step >= s.last_step OR s.last_state_json IS NULL;

    -- the new steps with what the triggers would have done: counts, node index, NOTIFY
    WITH st AS (
        INSERT INTO steps (session_id, step, created_at, state_json, frontier_json, versions_seen_json,
                           ran_nodes_json, skipped_nodes_json, updated_channels_json, payload_bytes, parent_step)
        SELECT i.sid, i.step, i.created, i.state::jsonb, i.frontier::jsonb, i.versions::jsonb, i.ran::jsonb,
               i.skipped::jsonb, i.channels::jsonb, i.bytes, i.parent
        FROM unnest(p_sid, p_step, p_created, p_state, p_frontier, p_versions, p_ran, p_skipped, p_channels,
                    p_bytes, p_parent, v_status)
             AS i(sid, step, created, state, frontier, versions, ran, skipped, channels, bytes, parent, st)
        WHERE i.st = 0
        ORDER BY i.sid
        ON CONFLICT (session_id, step) DO NOTHING
        RETURNING steps.session_id, steps.step, steps.ran_nodes_json,
                  weavegraph_step_bytes(steps.payload_bytes, steps.state_json, steps.frontier_json,
                                        steps.versions_seen_json, steps.ran_nodes_json, steps.skipped_nodes_json,
                                        steps.updated_channels_json) AS bytes
    ), counted AS (
        INSERT INTO weavegraph_session_counts AS c (session_id, steps, bytes, min_step, max_step)
        SELECT x.session_id, count(*), sum(x.bytes), min(x.step), max(x.step)
        FROM st x GROUP BY x.session_id ORDER BY x.session_id
        ON CONFLICT (session_id) DO UPDATE SET
            steps = c.steps + excluded.steps,
            bytes = c.bytes + excluded.bytes,
            min_step = LEAST(c.min_step, excluded.min_step),
            max_step = GREATEST(c.max_step, excluded.max_step)
    ), added AS (
        INSERT INTO weavegraph_step_nodes (session_id, node, step)
        SELECT x.session_id, name, x.step FROM st x, weavegraph_nodes_of(x.ran_nodes_json) AS name
        ON CONFLICT DO NOTHING
        RETURNING weavegraph_step_nodes.session_id, weavegraph_step_nodes.node
    ), node_counted AS (
        INSERT INTO weavegraph_node_counts AS nc (session_id, node, steps)
        SELECT a.session_id, a.node, count(*) FROM added a GROUP BY a.session_id, a.node ORDER BY 1, 2
        ON CONFLICT (session_id, node) DO UPDATE SET steps = nc.steps + excluded.steps
    )
    SELECT array_agg(x.session_id) INTO v_new FROM st x,
        LATERAL (SELECT pg_notify('weavegraph_steps',
                                  json_build_object('session_id', x.session_id, 'step', x.step)::text)) AS y;
    IF coalesce(cardinality(v_new), 0) < v_passed THEN  -- steps that exist already: overwritten, with triggers
        v_overwrote := weavegraph_save_steps_again(p_sid, p_step, p_created, p_state, p_frontier, p_versions,
                                                   p_ran, p_skipped, p_channels, p_bytes, p_parent, v_status,
                                                   v_new);
    END IF;

    INSERT INTO wg_events (session_id, step, event_json)
    SELECT p_sid[m.item], e.step, e.body::jsonb
    FROM unnest(p_event_steps, p_events) WITH ORDINALITY AS e(step, body, k)
    JOIN (
        SELECT c.i AS item, row_number() OVER (ORDER BY c.i, g) AS k
        FROM unnest(p_event_count) WITH ORDINALITY AS c(cnt, i), generate_series(1, c.cnt) AS g
    ) m ON m.k = e.k
    WHERE v_status[m.item] = 0
    ORDER BY e.k;

    INSERT INTO wg_session_info AS w (session_id, parent_session, parent_step, graph_name)
    SELECT i.sid, i.ps, i.pss, i.gn
    FROM unnest(p_sid, p_info, p_parent_session, p_parent_session_step, p_graph_name, v_status)
         AS i(sid, info, ps, pss, gn, st)
    WHERE i.st = 0 AND i.info
    ORDER BY i.sid
    ON CONFLICT (session_id) DO UPDATE SET
        parent_session = COALESCE(excluded.parent_session, w.parent_session),
        parent_step = COALESCE(excluded.parent_step, w.parent_step),
        graph_name = COALESCE(excluded.graph_name, w.graph_name);

    IF v_overwrote IS NOT NULL THEN  -- overwritten steps: their old records go
        DELETE FROM wg_node_records r
        USING unnest(p_sid, p_step, p_records, v_status) AS i(sid, step, rec, st)
        WHERE i.st = 0 AND i.rec AND i.sid = ANY (v_overwrote) AND r.session_id = i.sid AND r.step = i.step;
    END IF;
    INSERT INTO wg_node_records (session_id, step, idx, node, status, attempts, started_at, duration_ms,
                                 output_json, error_json)
    SELECT p_sid[m.item], p_step[m.item], m.idx, r.node, r.status, r.attempts, r.started, r.ms,
           r.output::jsonb, r.error::jsonb
    FROM unnest(p_nodes, p_statuses, p_attempts, p_started, p_durations, p_outputs, p_errors)
         WITH ORDINALITY AS r(node, status, attempts, started, ms, output, error, k)
    JOIN (
        SELECT c.i AS item, (g - 1)::integer AS idx, row_number() OVER (ORDER BY c.i, g) AS k
        FROM unnest(p_rec_count) WITH ORDINALITY AS c(cnt, i), generate_series(1, c.cnt) AS g
    ) m ON m.k = r.k
    WHERE v_status[m.item] = 0 AND p_records[m.item];

    RETURN QUERY SELECT a.st, a.last FROM unnest(v_status, v_last) WITH ORDINALITY AS a(st, last, k) ORDER BY a.k;
END;
$$;
