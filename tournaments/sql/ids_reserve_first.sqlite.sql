-- SQLite: reserve the registration ids up to %(last)s when none was ever used.
INSERT INTO sqlite_sequence (name, seq) VALUES ('tournaments_registration', %(last)s)
