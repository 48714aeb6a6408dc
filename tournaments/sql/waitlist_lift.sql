-- Closing the waitlist's gaps, step 1 of 2 (`waitlist_renumber.sql` is step 2): every
-- waitlisted registration of the tournament moves above %(longest)s (at least the highest
-- position before rows left), so that no row takes a position another still holds while
-- step 2 numbers them (the unique index is checked row by row).
UPDATE tournaments_registration
   SET waitlist_position = waitlist_position + %(longest)s
 WHERE tournament_id = %(tournament)s AND status = 'waitlisted'
