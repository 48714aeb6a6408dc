-- Member %(member)s was active on %(day)s (a row per day; no row if already recorded).
INSERT INTO ledger_activityday (member_id, day) VALUES (%(member)s, %(day)s)
ON CONFLICT (member_id, day) DO NOTHING
RETURNING id
