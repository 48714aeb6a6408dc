-- Value into (issued) and out of (spent) member wallets, per currency and transfer kind
-- ('<currency>:<kind>'), by the transfer's time. System accounts are the other side.
-- `span`: the first and last id of the bucket's transfers (the index on created_at), so
-- that its postings are read by the index on transfer_id, not found by reading every
-- posting (ids follow time, so the range holds little else; the times still decide).
-- `id + 0`: an aggregate, not the walk of the primary key that MIN(id) would plan.
WITH span AS (
    SELECT MIN(id + 0) AS first, MAX(id + 0) AS last FROM ledger_transfer
     WHERE created_at >= %(start)s AND created_at < %(end)s
)
SELECT CASE WHEN p.amount > 0 THEN 'ledger.issued' ELSE 'ledger.spent' END,
       c.code || ':' || t.kind,
       SUM(ABS(p.amount))
  FROM span
  JOIN ledger_posting p ON p.transfer_id BETWEEN span.first AND span.last
  JOIN ledger_transfer t ON t.id = p.transfer_id
  JOIN ledger_account a ON a.id = p.account_id
  JOIN ledger_currency c ON c.id = a.currency_id
 WHERE t.created_at >= %(start)s AND t.created_at < %(end)s AND a.member_id IS NOT NULL
 GROUP BY CASE WHEN p.amount > 0 THEN 'ledger.issued' ELSE 'ledger.spent' END,
          c.code || ':' || t.kind
UNION ALL
-- Gifts: transfers between members (kind 'transfer'), counted per currency.
SELECT 'ledger.gifts', c.code, COUNT(DISTINCT t.id)
  FROM span
  JOIN ledger_posting p ON p.transfer_id BETWEEN span.first AND span.last
  JOIN ledger_transfer t ON t.id = p.transfer_id
  JOIN ledger_account a ON a.id = p.account_id
  JOIN ledger_currency c ON c.id = a.currency_id
 WHERE t.created_at >= %(start)s AND t.created_at < %(end)s AND t.kind = 'transfer'
 GROUP BY c.code
