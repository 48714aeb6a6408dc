-- The transaction's lock on one API key's Idempotency-Key ({api_key}, {key}), taken before
-- its claim (`idempotency_claim.sql`) and before a transfer written with its answer in one
-- statement (`idempotency_answer.sql`): both paths then lock the key before the ledger's
-- own key, never in the other order (no deadlock between them). Released at commit.
-- 1095780641 is "API!" in ASCII: the class of these locks (two-key advisory locks never
-- meet the relay's one-key lock).
pg_advisory_xact_lock(1095780641, hashtext({api_key}::text || ':' || {key}))
