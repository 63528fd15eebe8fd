-- 0010: stored events (persist_events) a row per run, not a row per event. A `wg_events` row now holds
-- consecutive events of one step (or of no step) in publish order: `event_json` is a JSON array of events,
-- rows in `id` order, events in array order. `weavegraph_save` and `weavegraph_save_group` (0009) are
-- unchanged: their `p_event_steps`/`p_events` elements (and `p_event_count`) are now runs, each a step and
-- its events' JSON array. Rows written before this migration become one-event arrays, keeping their ids and
-- order (the queue's event streams go on from their position); deletes by step or session are unchanged.
UPDATE wg_events SET event_json = jsonb_build_array(event_json) WHERE jsonb_typeof(event_json) = 'object';
