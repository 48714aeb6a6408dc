-- Achievement %(achievement)s granted to member %(member)s, unless it was already.
INSERT INTO ledger_memberachievement (member_id, achievement_id, granted_at, transfer_id)
VALUES (%(member)s, %(achievement)s, %(now)s, %(transfer)s)
ON CONFLICT (member_id, achievement_id) DO NOTHING
RETURNING id
