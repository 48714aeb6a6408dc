-- Archiving: the events an `events_archive` row (%s: its id) covers and a file holds,
-- removed from the log (events.archive; the append-only trigger lets exactly these go).
DELETE FROM events_event
 WHERE seq IN (
     SELECT e.seq FROM events_event e JOIN events_archive a ON a.id = %s
      WHERE e.seq BETWEEN a.first_seq AND a.last_seq AND e.created_at < a.before
 )
