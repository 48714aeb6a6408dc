-- The body of the trigger `events_event_append_only` (events/models.py), BEFORE UPDATE OR
-- DELETE on events_event. Events never change. Two writes are let through.
--
-- A DELETE by archiving (events.archive), and only of a row that (1) an `events_archive`
-- row covers, that is, whose range was written to a checksummed file first, (2) is older
-- than that archive's cutoff, and (3) the relay has passed (at or below every relay's
-- position), so no screen or cache still waits for it.
--
-- An UPDATE by an erasure (accounts.erasure.erase_member), and only when all of these hold:
-- (1) the transaction-local setting `concord.erasing` names a member id (set_config(...,
-- true): it ends with the transaction, and erase_member clears it once done), and that
-- member is erased already (tombstoned name, inactive); (2) the event is about that member
-- (subject `member:<id>`); (3) seq, kind, subject, actor and created_at
-- are unchanged; (4) the data keeps its shape: every object in the new data that is not
-- emptied has exactly the keys it had, every list its length; (5) every value that changed became a tombstone of
-- that member (`erased:<id>` or `erased:<id>:<n>`) or an emptied text, object or list
-- ("", null, {}, []; a number or a flag is never emptied, nor the data itself). So a scrub can only remove what the event said, never say
-- something else.
IF TG_OP = 'DELETE'
   AND EXISTS (
       SELECT 1 FROM events_archive a
        WHERE OLD.seq BETWEEN a.first_seq AND a.last_seq AND OLD.created_at < a.before
   )
   AND OLD.seq <= (SELECT min(p.seq) FROM events_relayposition p)
THEN
    RETURN OLD;
END IF;
IF TG_OP = 'UPDATE'
   AND coalesce(current_setting('concord.erasing', true), '') ~ '^[1-9][0-9]*$'
   AND OLD.subject = 'member:' || current_setting('concord.erasing', true)
   AND EXISTS (
       SELECT 1 FROM accounts_member m
        WHERE m.id = CASE WHEN current_setting('concord.erasing', true) ~ '^[1-9][0-9]*$'
                               AND length(current_setting('concord.erasing', true)) <= 18
                          THEN current_setting('concord.erasing', true)::bigint END
          AND m.display_name = 'erased:' || current_setting('concord.erasing', true)
          AND NOT m.is_active
   )
   AND NEW.seq = OLD.seq
   AND NEW.kind = OLD.kind
   AND NEW.subject = OLD.subject
   AND NEW.actor_id IS NOT DISTINCT FROM (OLD.actor_id)
   AND NEW.created_at = OLD.created_at
   AND jsonb_typeof(OLD.data) = 'object'
   AND jsonb_typeof(NEW.data) = 'object'
   AND NOT EXISTS (
       WITH RECURSIVE node AS (
           SELECT ARRAY[]::text[] AS path, NEW.data AS value
           UNION ALL
           SELECT n.path || e.key, e.value
             FROM node n, LATERAL (
                  SELECT o.key, o.value
                    FROM jsonb_each(CASE WHEN jsonb_typeof(n.value) = 'object' THEN n.value END) o
                  UNION ALL
                  SELECT (a.i - 1)::text, a.value
                    FROM jsonb_array_elements(
                        CASE WHEN jsonb_typeof(n.value) = 'array' THEN n.value END
                    ) WITH ORDINALITY a(value, i)
             ) e
       )
       SELECT 1 FROM node
        WHERE CASE
            WHEN jsonb_typeof(value) = 'object'
                 AND (value <> jsonb_build_object() OR path = ARRAY[]::text[]) THEN
                CASE WHEN jsonb_typeof(OLD.data #> path) = 'object' THEN
                    ARRAY(SELECT k FROM jsonb_object_keys(value) k ORDER BY k)
                    IS DISTINCT FROM
                    ARRAY(SELECT k FROM jsonb_object_keys(OLD.data #> path) k ORDER BY k)
                ELSE true END
            WHEN jsonb_typeof(value) = 'array' AND value <> jsonb_build_array() THEN
                CASE WHEN jsonb_typeof(OLD.data #> path) = 'array' THEN
                    jsonb_array_length(value) <> jsonb_array_length(OLD.data #> path)
                ELSE true END
            WHEN value IS NOT DISTINCT FROM (OLD.data #> path) THEN false
            WHEN value IN (to_jsonb(''::text), 'null'::jsonb, jsonb_build_object(),
                           jsonb_build_array())
                 AND jsonb_typeof(OLD.data #> path) IN ('string', 'object', 'array') THEN false
            WHEN jsonb_typeof(value) = 'string' THEN
                value #>> ARRAY[]::text[] !~ (
                    '^erased:' || current_setting('concord.erasing', true) || '(:[0-9]+)?$'
                )
            ELSE true
        END
   )
THEN
    RETURN NEW;
END IF;
RAISE EXCEPTION 'events are append-only: % of event % refused', TG_OP, OLD.seq
    USING ERRCODE = 'integrity_constraint_violation';
