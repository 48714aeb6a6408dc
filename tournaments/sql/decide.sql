-- SQLite: where a new registration goes ({outcome}: `registration_outcome.sql`) and the
-- counters it changes. Writers are serial there (immediate transactions), so what this
-- reads stays true until the registration is written.
SELECT {outcome}, t.capacity, t.active_count, t.waitlist_count, t.entry_fee
  FROM tournaments_tournament t
 WHERE t.id = %(tournament)s
