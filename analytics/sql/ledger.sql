-- Value into (issued) and out of (spent) member wallets, per currency and transfer kind
-- ('<currency>:<kind>'), by the transfer's time. System accounts are the other side.
SELECT CASE WHEN p.amount > 0 THEN 'ledger.issued' ELSE 'ledger.spent' END,
       c.code || ':' || t.kind,
       SUM(ABS(p.amount))
  FROM ledger_transfer t
  JOIN ledger_posting p ON p.transfer_id = t.id
  JOIN ledger_account a ON a.id = p.account_id
  JOIN ledger_currency c ON c.id = a.currency_id
 WHERE t.created_at >= %(start)s AND t.created_at < %(end)s AND a.member_id IS NOT NULL
 GROUP BY CASE WHEN p.amount > 0 THEN 'ledger.issued' ELSE 'ledger.spent' END,
          c.code || ':' || t.kind
UNION ALL
-- Gifts: transfers between members (kind 'transfer'), counted per currency.
SELECT 'ledger.gifts', c.code, COUNT(DISTINCT t.id)
  FROM ledger_transfer t
  JOIN ledger_posting p ON p.transfer_id = t.id
  JOIN ledger_account a ON a.id = p.account_id
  JOIN ledger_currency c ON c.id = a.currency_id
 WHERE t.created_at >= %(start)s AND t.created_at < %(end)s AND t.kind = 'transfer'
 GROUP BY c.code
