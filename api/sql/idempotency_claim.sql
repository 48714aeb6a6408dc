-- Claim an Idempotency-Key for an API key (`api.idempotency._claim`), in the request's
-- transaction, before its work: a concurrent claim of the same key waits here until this
-- transaction ends, then inserts nothing (no error, so no savepoint) and reads the answer.
INSERT INTO api_idempotentrequest
    (api_key_id, key, method, path, request_hash, request_body, status, response_body,
     created_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (api_key_id, key) DO NOTHING
RETURNING id
