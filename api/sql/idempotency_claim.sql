-- Claim an Idempotency-Key for an API key (`api.idempotency._claim`), in the request's
-- transaction, before its work: a concurrent claim of the same key waits here until this
-- transaction ends, then inserts nothing (no error, so no savepoint) and reads the answer.
-- SQLite (one writer at a time); PostgreSQL runs `idempotency_claim.pg.sql`.
INSERT INTO api_idempotentrequest
    (api_key_id, key, method, path, request_hash, request_body, status, response_body,
     created_at)
VALUES (%(api_key)s, %(key)s, %(method)s, %(path)s, %(hash)s, %(body)s, %(status)s,
        %(answer)s, %(now)s)
ON CONFLICT (api_key_id, key) DO NOTHING
RETURNING id
