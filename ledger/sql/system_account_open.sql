-- The system account %(name)s in currency %(currency)s, if it does not exist yet (a
-- system account has no balance: the CHECK ledger_account_wallet_or_system).
INSERT INTO ledger_account (currency_id, member_id, name, balance, held, version, created_at)
VALUES (%(currency)s, NULL, %(name)s, NULL, NULL, NULL, %(now)s)
ON CONFLICT DO NOTHING
