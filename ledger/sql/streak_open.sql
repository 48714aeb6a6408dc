-- Member %(member)s's streak row, if it has none yet (then locked and moved in Python).
INSERT INTO ledger_streak (member_id, current, longest, last_day)
VALUES (%(member)s, 0, 0, NULL)
ON CONFLICT (member_id) DO NOTHING
