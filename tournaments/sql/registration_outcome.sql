-- Where a new registration goes, as an SQL expression over the tournament's row `t` (as
-- locked by the caller):
--   closed      the tournament is not taking registrations now;
--   registered  a slot is free and the fee is paid (or there is none);
--   unpaid      a slot is free but the fee is not paid yet (pay under the lock, then
--               place again);
--   waitlisted  no slot is free and the waitlist has room (no limit, or below it);
--   full        neither.
-- {now} is the time of the registration and {paid} the fee transfer's id (NULL: not
-- paid), both parameters typed for the database. The one copy of the rule: PostgreSQL
-- evaluates it in `place.pg.sql`, SQLite in `decide.sql`.
CASE
    WHEN t.status <> 'registration'
         OR {now} < t.registration_opens_at
         OR {now} >= t.registration_closes_at
        THEN 'closed'
    WHEN t.active_count < t.capacity AND (t.entry_fee = 0 OR {paid} IS NOT NULL)
        THEN 'registered'
    WHEN t.active_count < t.capacity
        THEN 'unpaid'
    WHEN t.waitlist_limit IS NULL OR t.waitlist_count < t.waitlist_limit
        THEN 'waitlisted'
    ELSE 'full'
END
