-- read_open.sql's {reserve} on PostgreSQL: a registration id drawn from {sequence} when
-- the member may register (not registered yet, registration open).
CASE WHEN r.id IS NULL AND t.status = 'registration' THEN nextval('{sequence}'::regclass) END
