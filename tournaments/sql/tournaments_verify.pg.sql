-- `tournaments_verify(tournament)`: what the deferred triggers check at commit (PostgreSQL).
--
-- For one tournament: its `active_count` is the number of registrations holding a slot
-- (registered or checked in), its `waitlist_count` the number waitlisted, the waitlisted
-- positions are 1..waitlist_count (positions are unique by constraint and at least 1, so n
-- of them with the highest being n leaves no gap), and in a paid tournament every slot has
-- its fee transfer. `active_count <= capacity` is a CHECK on the tournament row.
--
-- One check per tournament per batch of writes: every statement writing tournaments or
-- registrations increments the transaction-local `concord.tournaments_writes` (a statement
-- trigger), and a check records `<writes>|,<tournament>,...` in
-- `concord.tournaments_verified`. A later check of the same tournament with the same write
-- count has nothing new to see (deferred checks run after the writes that queued them, and
-- checks write nothing), so a 10,000-row import is verified once, not 10,000 times; any
-- later write changes the count and the next check runs again. Both settings are
-- transaction-local and roll back with a savepoint, together with the rows.
-- Created from this file by migration tournaments 0002 (config.sqlfiles.postgres_function):
-- this is its current version.
CREATE OR REPLACE FUNCTION tournaments_verify(tournament bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    writes text := COALESCE(current_setting('concord.tournaments_writes', true), '');
    verified text := COALESCE(current_setting('concord.tournaments_verified', true), '');
    seen text := '';
    t record;
    seated bigint;
    waiting bigint;
    last_position bigint;
    unpaid bigint;
BEGIN
    IF verified <> '' AND split_part(verified, '|', 1) = writes THEN
        seen := split_part(verified, '|', 2);
        IF strpos(seen, ',' || tournament || ',') > 0 THEN
            RETURN;
        END IF;
    END IF;
    SELECT capacity, active_count, waitlist_count, entry_fee INTO t
      FROM tournaments_tournament WHERE id = tournament;
    IF NOT FOUND THEN
        RETURN;  -- a draft deleted again: its registrations' foreign keys answer for them
    END IF;
    SELECT count(*) FILTER (WHERE status IN ('registered', 'checked_in')),
           count(*) FILTER (WHERE status = 'waitlisted'),
           COALESCE(max(waitlist_position), 0),
           count(*) FILTER (WHERE status IN ('registered', 'checked_in')
                              AND fee_transfer_id IS NULL)
      INTO seated, waiting, last_position, unpaid
      FROM tournaments_registration
     WHERE tournament_id = tournament
       AND status IN ('registered', 'checked_in', 'waitlisted');
    IF seated <> t.active_count THEN
        RAISE EXCEPTION 'tournament %: % registrations hold a slot, active_count says %',
            tournament, seated, t.active_count
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF waiting <> t.waitlist_count OR last_position <> waiting THEN
        RAISE EXCEPTION
            'tournament %: % waitlisted up to position %, waitlist_count says % (1..n, no gaps)',
            tournament, waiting, last_position, t.waitlist_count
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF unpaid > 0 AND t.entry_fee > 0 THEN
        RAISE EXCEPTION 'tournament %: % slots are held without their entry fee',
            tournament, unpaid
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    PERFORM set_config('concord.tournaments_verified',
        writes || '|' || COALESCE(NULLIF(seen, ''), ',') || tournament || ',', true);
END
$$
