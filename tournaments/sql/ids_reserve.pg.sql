-- %(count)s registration ids from %(sequence)s no other transaction will get (the fee's
-- idempotency key names the registration, so its id is known before the row is written).
SELECT nextval(%(sequence)s::regclass) FROM generate_series(1, %(count)s)
