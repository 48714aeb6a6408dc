-- An Idempotency-Key's answer written by the ledger's posting statement itself, with the
-- transfer it answers (a `ledger.posting.Rider`: `api.idempotency.write` with a
-- `OneStatement`): one round trip, one commit. It reads the statement's CTEs (`transfer`,
-- `covered`; {answer}, the answer's JSON, reads `legs`, `wallets` and the statement's
-- parameters too). No ON CONFLICT: if the key has an answer already (or one being
-- committed), the unique index fails the whole statement and nothing of the transfer
-- stays; the general path then replays the stored answer.
INSERT INTO api_idempotentrequest
    (api_key_id, key, method, path, request_hash, request_body, status, response_body,
     created_at)
SELECT %(idem_api_key)s::bigint, %(idem_key)s::text, %(idem_method)s::text,
       %(idem_path)s::text, %(idem_hash)s::text, %(idem_body)s::jsonb,
       %(idem_status)s::smallint, {answer}, %(now)s::timestamptz
  FROM transfer, covered WHERE covered.ok
RETURNING id, response_body
