-- 0009: less server work per save (issue 20).
--
-- 1. The counts of 0003 (weavegraph_session_counts, weavegraph_step_nodes, weavegraph_node_counts) are kept by
--    statement-level triggers with transition tables for INSERT and UPDATE: one run per statement, whatever its
--    number of rows, so a group of saves pays the bookkeeping once. Deleting steps (prune, delete_session)
--    keeps the row-level trigger of 0003. Every writer (ours, Weavegraph 0.6) still keeps the counts.
-- 2. `weavegraph_save` parses each JSON argument once, updates an existing session row (locked by its check)
--    instead of an upsert, and takes a NULL `p_session_state` as "the same as `p_state`" (full mode, which
--    keeps the full state in sessions.last_state_json as Weavegraph 0.6 does, no longer sends it twice).
-- 3. `weavegraph_save_group` is set-based: the checks of all items in one query over the locked session rows,
--    then one statement per table (sessions, steps, events, session info, node records) for the items that
--    passed. An item that fails its checks writes nothing; the others commit. A group holding the same
--    session twice keeps 0008's item-by-item loop (each save must see the one before it), under the name
--    `weavegraph_save_group_serial`.

DROP TRIGGER IF EXISTS weavegraph_steps_counts ON steps;
CREATE TRIGGER weavegraph_steps_counts AFTER DELETE ON steps
    FOR EACH ROW EXECUTE FUNCTION weavegraph_steps_counts();

CREATE OR REPLACE FUNCTION weavegraph_steps_counts_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO weavegraph_session_counts AS c (session_id, steps, bytes, min_step, max_step)
    SELECT n.session_id, count(*),
           sum(weavegraph_step_bytes(n.payload_bytes, n.state_json, n.frontier_json, n.versions_seen_json,
                                     n.ran_nodes_json, n.skipped_nodes_json, n.updated_channels_json)),
           min(n.step), max(n.step)
    FROM new_steps n GROUP BY n.session_id ORDER BY n.session_id
    ON CONFLICT (session_id) DO UPDATE SET
        steps = c.steps + excluded.steps,
        bytes = c.bytes + excluded.bytes,
        min_step = LEAST(c.min_step, excluded.min_step),
        max_step = GREATEST(c.max_step, excluded.max_step);
    WITH added AS (
        INSERT INTO weavegraph_step_nodes (session_id, node, step)
        SELECT n.session_id, name, n.step FROM new_steps n, weavegraph_nodes_of(n.ran_nodes_json) AS name
        ON CONFLICT DO NOTHING
        RETURNING session_id, node
    )
    INSERT INTO weavegraph_node_counts AS nc (session_id, node, steps)
    SELECT a.session_id, a.node, count(*) FROM added a GROUP BY a.session_id, a.node ORDER BY 1, 2
    ON CONFLICT (session_id, node) DO UPDATE SET steps = nc.steps + excluded.steps;
    RETURN NULL;
END;
$$;

-- An updated step: the old row's counts go out, the new row's come in (as the row trigger of 0003 did).
CREATE OR REPLACE FUNCTION weavegraph_steps_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM old_steps) THEN  -- an INSERT ... ON CONFLICT DO UPDATE that only inserted
        RETURN NULL;
    END IF;
    UPDATE weavegraph_session_counts c
    SET steps = c.steps - o.k, bytes = c.bytes - o.b
    FROM (
        SELECT x.session_id, count(*) AS k,
               sum(weavegraph_step_bytes(x.payload_bytes, x.state_json, x.frontier_json, x.versions_seen_json,
                                         x.ran_nodes_json, x.skipped_nodes_json, x.updated_channels_json)) AS b
        FROM old_steps x GROUP BY x.session_id ORDER BY x.session_id
    ) o
    WHERE c.session_id = o.session_id;
    WITH gone AS (
        DELETE FROM weavegraph_step_nodes sn
        USING (SELECT DISTINCT x.session_id, x.step, name
               FROM old_steps x, weavegraph_nodes_of(x.ran_nodes_json) AS name) g
        WHERE sn.session_id = g.session_id AND sn.step = g.step AND sn.node = g.name
        RETURNING sn.session_id, sn.node
    )
    UPDATE weavegraph_node_counts nc SET steps = nc.steps - g.k
    FROM (SELECT gone.session_id, gone.node, count(*) AS k FROM gone GROUP BY 1, 2) g
    WHERE nc.session_id = g.session_id AND nc.node = g.node;
    DELETE FROM weavegraph_node_counts nc
    WHERE nc.session_id IN (SELECT x.session_id FROM old_steps x) AND nc.steps <= 0;
    INSERT INTO weavegraph_session_counts AS c (session_id, steps, bytes, min_step, max_step)
    SELECT n.session_id, count(*),
           sum(weavegraph_step_bytes(n.payload_bytes, n.state_json, n.frontier_json, n.versions_seen_json,
                                     n.ran_nodes_json, n.skipped_nodes_json, n.updated_channels_json)),
           min(n.step), max(n.step)
    FROM new_steps n GROUP BY n.session_id ORDER BY n.session_id
    ON CONFLICT (session_id) DO UPDATE SET
        steps = c.steps + excluded.steps,
        bytes = c.bytes + excluded.bytes,
        min_step = LEAST(c.min_step, excluded.min_step),
        max_step = GREATEST(c.max_step, excluded.max_step);
    WITH added AS (
        INSERT INTO weavegraph_step_nodes (session_id, node, step)
        SELECT n.session_id, name, n.step FROM new_steps n, weavegraph_nodes_of(n.ran_nodes_json) AS name
        ON CONFLICT DO NOTHING
        RETURNING session_id, node
    )
    INSERT INTO weavegraph_node_counts AS nc (session_id, node, steps)
    SELECT a.session_id, a.node, count(*) FROM added a GROUP BY a.session_id, a.node ORDER BY 1, 2
    ON CONFLICT (session_id, node) DO UPDATE SET steps = nc.steps + excluded.steps;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS weavegraph_steps_counts_insert ON steps;
CREATE TRIGGER weavegraph_steps_counts_insert AFTER INSERT ON steps
    REFERENCING NEW TABLE AS new_steps
    FOR EACH STATEMENT EXECUTE FUNCTION weavegraph_steps_counts_add();

DROP TRIGGER IF EXISTS weavegraph_steps_counts_update ON steps;
CREATE TRIGGER weavegraph_steps_counts_update AFTER UPDATE ON steps
    REFERENCING OLD TABLE AS old_steps NEW TABLE AS new_steps
    FOR EACH STATEMENT EXECUTE FUNCTION weavegraph_steps_counts_update();

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

-- 0008's loop, for a group that holds the same session more than once.
CREATE OR REPLACE FUNCTION weavegraph_save_group_serial(
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

-- Group commit, set-based (same arguments and answer as 0008's): item i is element i of each array; its node
-- records are the next p_rec_count[i] elements of the record arrays and its events the next p_event_count[i]
-- of the event arrays. One (status, last_step) row per item, in order.
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
#variable_conflict use_column
DECLARE
    n INTEGER := coalesce(cardinality(p_sid), 0);
    v_status INTEGER[];
    v_last BIGINT[];
    v_found BOOLEAN[];
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
    SELECT array_agg(c.st ORDER BY c.k), array_agg(c.last ORDER BY c.k), array_agg(c.found ORDER BY c.k)
    INTO v_status, v_last, v_found
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

    WITH written AS (
        INSERT INTO steps (session_id, step, created_at, state_json, frontier_json, versions_seen_json,
                           ran_nodes_json, skipped_nodes_json, updated_channels_json, payload_bytes, parent_step)
        SELECT i.sid, i.step, i.created, i.state::jsonb, i.frontier::jsonb, i.versions::jsonb, i.ran::jsonb,
               i.skipped::jsonb, i.channels::jsonb, i.bytes, i.parent
        FROM unnest(p_sid, p_step, p_created, p_state, p_frontier, p_versions, p_ran, p_skipped, p_channels,
                    p_bytes, p_parent, v_status)
             AS i(sid, step, created, state, frontier, versions, ran, skipped, channels, bytes, parent, st)
        WHERE i.st = 0
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
