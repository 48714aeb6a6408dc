-- The sequence that numbers registrations (read once per process).
SELECT pg_get_serial_sequence('tournaments_registration', 'id')
