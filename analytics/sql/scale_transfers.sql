-- seed_scale: one transfer per leg group, written in the order of their ids (time), as a
-- live ledger writes them.
INSERT INTO ledger_transfer (id, kind, idempotency_key, request_hash, reason, context, created_at)
SELECT tid, MIN(kind), 'seed:' || tid, '', 'seeded history', '{{}}', MIN(at)
  FROM ({legs}) legs GROUP BY tid ORDER BY tid
