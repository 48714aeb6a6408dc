-- The tournament's status and when its check-in closes (tournament %s); {lock}: FOR
-- SHARE on PostgreSQL (a check-in may not cross the window's change), nothing on SQLite.
SELECT status, check_in_closes_at FROM tournaments_tournament WHERE id = %s {lock}
