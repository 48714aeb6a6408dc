-- Member %(member)s's wallet in currency %(currency)s, if the member exists (the foreign
-- key would only say so at commit) and the wallet does not yet.
INSERT INTO ledger_account (currency_id, member_id, name, balance, held, version, created_at)
SELECT %(currency)s, id, '', 0, 0, 0, %(now)s FROM accounts_member WHERE id = %(member)s
ON CONFLICT DO NOTHING
