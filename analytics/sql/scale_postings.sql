-- seed_scale: the postings, wallets' numbered with their running balance.
INSERT INTO ledger_posting (transfer_id, account_id, amount, balance_after, version)
SELECT tid, account_id, amount,
       CASE WHEN member_id IS NOT NULL THEN SUM(amount) OVER w END,
       CASE WHEN member_id IS NOT NULL THEN ROW_NUMBER() OVER w END
  FROM (SELECT l.*, COALESCE(%(abase)s + 2 * (l.member_id - %(base)s) - 1, s.id) AS account_id
          FROM ({legs}) l
          LEFT JOIN ledger_account s
            ON s.member_id IS NULL AND s.currency_id = %(points)s AND s.name = l.system) p
WINDOW w AS (PARTITION BY account_id ORDER BY at, tid)
-- Written in the order a live ledger writes them (by transfer), which is how they lie on
-- disk there: reading a period's postings by transfer id then reads few pages.
ORDER BY tid, account_id
