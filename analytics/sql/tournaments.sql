-- Registrations made in the bucket (any status, waitlist included), and for tournaments
-- whose check-in closed in it (check-in over: in progress or completed) their capacity,
-- who checked in and the no-shows. Fill rate = (checked in + no-shows) / capacity,
-- check-in rate = checked in / (checked in + no-shows): analytics.queries.
SELECT 'tournaments.registrations', '', COUNT(*) FROM tournaments_registration
 WHERE created_at >= %(start)s AND created_at < %(end)s
HAVING COUNT(*) > 0
UNION ALL
SELECT 'tournaments.held', '', COUNT(*) FROM tournaments_tournament
 WHERE check_in_closes_at >= %(start)s AND check_in_closes_at < %(end)s
   AND status IN ('in_progress', 'completed')
HAVING COUNT(*) > 0
UNION ALL
SELECT 'tournaments.capacity', '', SUM(capacity) FROM tournaments_tournament
 WHERE check_in_closes_at >= %(start)s AND check_in_closes_at < %(end)s
   AND status IN ('in_progress', 'completed')
HAVING COUNT(*) > 0
UNION ALL
SELECT CASE WHEN r.status = 'no_show' THEN 'tournaments.no_shows'
            ELSE 'tournaments.checked_in' END, '', COUNT(*)
  FROM tournaments_registration r JOIN tournaments_tournament t ON t.id = r.tournament_id
 WHERE t.check_in_closes_at >= %(start)s AND t.check_in_closes_at < %(end)s
   AND t.status IN ('in_progress', 'completed')
   AND (r.checked_in_at IS NOT NULL OR r.status = 'no_show')
 GROUP BY CASE WHEN r.status = 'no_show' THEN 'tournaments.no_shows'
               ELSE 'tournaments.checked_in' END
