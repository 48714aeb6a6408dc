-- `idempotency_claim.sql` on PostgreSQL: the same claim, after the key's lock ({lock},
-- `idempotency_lock.sql`), which a transfer written with its answer in one statement
-- (`idempotency_answer.sql`) takes first too.
INSERT INTO api_idempotentrequest
    (api_key_id, key, method, path, request_hash, request_body, status, response_body,
     created_at)
SELECT %(api_key)s::bigint, %(key)s::text, %(method)s::text, %(path)s::text,
       %(hash)s::text, %(body)s::jsonb, %(status)s::smallint, %(answer)s::jsonb,
       %(now)s::timestamptz
  FROM {lock}
ON CONFLICT (api_key_id, key) DO NOTHING
RETURNING id
