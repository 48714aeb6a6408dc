-- A transfer row, unless its idempotency key is taken ({values}: a VALUES list or a
-- SELECT giving the eight columns).
INSERT INTO ledger_transfer (kind, idempotency_key, request_hash, reason, context, actor_id,
                             created_at, reverses_id)
{values}
ON CONFLICT DO NOTHING
RETURNING id
