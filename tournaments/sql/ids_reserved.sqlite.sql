-- SQLite: the highest registration id ever used (AUTOINCREMENT keeps it here); writers
-- are serial (immediate transactions), so moving it on reserves the ids after it.
SELECT seq FROM sqlite_sequence WHERE name = 'tournaments_registration'
