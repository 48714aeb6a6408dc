-- A pending hold, unless its idempotency key is taken (a concurrent call committed first).
INSERT INTO ledger_hold (account_id, amount, sink, status, idempotency_key, reason, context,
                         actor_id, created_at, expires_at)
VALUES (%(account)s, %(amount)s, %(sink)s, 'pending', %(key)s, %(reason)s, %(context)s,
        %(actor)s, %(now)s, %(expires_at)s)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING id
