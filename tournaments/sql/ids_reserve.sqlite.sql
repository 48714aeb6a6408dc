-- SQLite: reserve the registration ids up to %(last)s (the row exists after the first
-- registration; ids_reserve_first.sqlite.sql before it).
UPDATE sqlite_sequence SET seq = %(last)s WHERE name = 'tournaments_registration'
