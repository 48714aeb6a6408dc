-- config_changed(model, snapshot): the `config.changed` event of one history row.
-- pghistory's triggers write a snapshot of a configuration row (currency, achievement,
-- story, chapter, choice, tournament settings) into its history table on every insert,
-- update and delete, whoever wrote it (the ORM or raw SQL); an AFTER INSERT trigger on
-- each history table (config.history.track) calls this with the new snapshot. It names
-- the fields that differ from the object's previous snapshot, never their values, and
-- the acting staff user from pghistory's context (config.history.acting), if any.
-- Created from this file by migration ledger 0008 (config.sqlfiles.postgres_function):
-- this is its current version.
CREATE OR REPLACE FUNCTION config_changed(history_table text, model text, snapshot jsonb)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    previous jsonb;
    changed jsonb;
    actor text;
BEGIN
    IF snapshot->>'pgh_label' = 'baseline' THEN
        RETURN;  -- the row as it was when its history began: no change
    END IF;
    EXECUTE format(
        'SELECT to_jsonb(h) FROM %I h WHERE pgh_obj_id = $1 AND pgh_id < $2'
        ' ORDER BY pgh_id DESC LIMIT 1', history_table)
        INTO previous USING (snapshot->>'pgh_obj_id')::bigint, (snapshot->>'pgh_id')::bigint;
    SELECT coalesce(jsonb_agg(field ORDER BY field), '[]'::jsonb) INTO changed
      FROM jsonb_each(snapshot) AS now_(field, value)
     WHERE field NOT LIKE 'pgh\_%' AND field <> 'id'
       AND snapshot->>'pgh_label' <> 'delete'
       AND (previous IS NULL OR previous->field IS DISTINCT FROM (value));
    actor := nullif(current_setting('pghistory.context_metadata', true), '')::jsonb->>'user';
    INSERT INTO events_event (kind, actor_id, subject, data, created_at)
    VALUES (
        'config.changed',
        actor::integer,
        model || ':' || (snapshot->>'pgh_obj_id'),
        jsonb_build_object(
            'model', model,
            'pk', (snapshot->>'pgh_obj_id')::bigint,
            'operation', snapshot->>'pgh_label',
            'fields', changed,
            'version', (snapshot->>'pgh_id')::bigint
        ),
        now()
    );
END
$$
