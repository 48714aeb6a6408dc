-- PostgreSQL: seat or waitlist one registration in one statement (one round trip inside
-- the lock): lock the tournament, decide ({outcome}: `registration_outcome.sql`), write
-- the registration, the counters and the event ({event_columns}: `events.log.INSERT_COLUMNS`;
-- {registered}: the `tournaments.payloads.Registered` data). The lock
-- is the first thing it does, and the decision reads the row as locked (READ COMMITTED
-- hands a waiting lock the latest row). Returns the outcome, and when placed the
-- registration's id and position and the event's seq and data.
WITH t AS (
    SELECT id, status, capacity, active_count, waitlist_count, waitlist_limit, entry_fee,
           registration_opens_at, registration_closes_at
      FROM tournaments_tournament WHERE id = %(tournament)s::bigint FOR NO KEY UPDATE
), decision AS (
    SELECT t.*, {outcome} AS outcome
      FROM t
), registration AS (
    INSERT INTO tournaments_registration (id, tournament_id, member_id, status,
                                          waitlist_position, fee_transfer_id, created_at,
                                          status_changed_at)
    SELECT %(id)s::bigint, d.id, %(member)s::bigint, d.outcome,
           CASE WHEN d.outcome = 'waitlisted' THEN d.waitlist_count + 1 END,
           CASE WHEN d.outcome = 'registered' THEN %(paid)s::bigint END,
           %(now)s::timestamptz, %(now)s::timestamptz
      FROM decision d WHERE d.outcome IN ('registered', 'waitlisted')
    RETURNING id, status, waitlist_position, fee_transfer_id
), counters AS (
    UPDATE tournaments_tournament tt
       SET active_count = tt.active_count + CASE WHEN r.status = 'registered' THEN 1 ELSE 0 END,
           waitlist_count = tt.waitlist_count
                            + CASE WHEN r.status = 'waitlisted' THEN 1 ELSE 0 END
      FROM registration r WHERE tt.id = %(tournament)s::bigint
    RETURNING tt.active_count, tt.waitlist_count, tt.capacity, tt.entry_fee
), event AS (
    INSERT INTO events_event ({event_columns})
    SELECT 'tournament.' || r.status, %(actor)s::bigint, 'tournament:' || %(tournament)s::bigint,
           {registered},
           %(now)s::timestamptz
      FROM registration r, counters c
    RETURNING seq, data::text
)
SELECT d.outcome, r.id, r.waitlist_position, e.seq, e.data
  FROM decision d LEFT JOIN registration r ON true LEFT JOIN event e ON true
