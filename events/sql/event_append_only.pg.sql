-- The body of the trigger `events_event_append_only` (events/models.py), BEFORE UPDATE OR
-- DELETE on events_event. Events never change. One DELETE is let through: archiving
-- (events.archive), and only of a row that (1) an `events_archive` row covers, that is,
-- whose range was written to a checksummed file first, (2) is older than that archive's
-- cutoff, and (3) the relay has passed (at or below every relay's position), so no
-- screen or cache still waits for it.
IF TG_OP = 'DELETE'
   AND EXISTS (
       SELECT 1 FROM events_archive a
        WHERE OLD.seq BETWEEN a.first_seq AND a.last_seq AND OLD.created_at < a.before
   )
   AND OLD.seq <= (SELECT min(p.seq) FROM events_relayposition p)
THEN
    RETURN OLD;
END IF;
RAISE EXCEPTION 'events are append-only: % of event % refused', TG_OP, OLD.seq
    USING ERRCODE = 'integrity_constraint_violation';
