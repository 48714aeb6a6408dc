-- Member %(member)s's wallets in every currency that opens on signup (registration).
INSERT INTO ledger_account (currency_id, member_id, name, balance, held, version, created_at)
SELECT id, %(member)s, '', 0, 0, 0, %(now)s FROM ledger_currency WHERE opens_on_signup
ON CONFLICT DO NOTHING
