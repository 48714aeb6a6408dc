-- seed_scale: a member is active on each day they moved points; story starts (a third of
-- the members start the demo story's chapter 1 a day after registering, if that is past).
INSERT INTO ledger_activityday (member_id, day)
SELECT DISTINCT member_id, (at AT TIME ZONE 'UTC')::date FROM ({legs}) legs
 WHERE member_id IS NOT NULL
