-- seed_scale: the points issuance and the shop's sink.
INSERT INTO ledger_account (currency_id, member_id, name, created_at)
SELECT %(points)s, NULL, name, %(now)s FROM (VALUES ('issuance'), ('sink:shop')) v(name)
ON CONFLICT (currency_id, name) WHERE member_id IS NULL DO NOTHING
