-- seed_scale: each member's points wallet (its balance and version what its legs sum
-- to) and empty credits wallet.
INSERT INTO ledger_account (id, currency_id, member_id, name, balance, held, version, created_at)
SELECT %(abase)s + 2 * (m.id - %(base)s) - 1, %(points)s, m.id, '',
       COALESCE(l.balance, 0), 0, COALESCE(l.postings, 0), m.created_at
  FROM accounts_member m
  LEFT JOIN (SELECT member_id, SUM(amount) AS balance, COUNT(*) AS postings
               FROM ({legs}) legs WHERE member_id IS NOT NULL GROUP BY member_id) l
    ON l.member_id = m.id
 WHERE m.id > %(base)s AND m.id <= %(base)s + %(n)s
UNION ALL
SELECT %(abase)s + 2 * (m.id - %(base)s), %(credits)s, m.id, '', 0, 0, 0, m.created_at
  FROM accounts_member m WHERE m.id > %(base)s AND m.id <= %(base)s + %(n)s
