-- Closing the waitlist's gaps, step 2 of 2: number the tournament's waitlist 1..n again,
-- in its order.
UPDATE tournaments_registration
   SET waitlist_position = ranked.n
  FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY waitlist_position) AS n
          FROM tournaments_registration
         WHERE tournament_id = %(tournament)s AND status = 'waitlisted') AS ranked
 WHERE tournaments_registration.id = ranked.id
