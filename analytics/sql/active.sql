-- Active members (day grain only): distinct members with an activity day
-- (ledger_activityday, written by record_activity) on the day, in the 7 days and in the
-- 30 days ending it.
SELECT 'members.dau', '', COUNT(*) FROM ledger_activityday WHERE day = %(day)s
HAVING COUNT(*) > 0
UNION ALL
SELECT 'members.wau', '', COUNT(DISTINCT member_id) FROM ledger_activityday
 WHERE day > %(week_before)s AND day <= %(day)s
HAVING COUNT(*) > 0
UNION ALL
SELECT 'members.mau', '', COUNT(DISTINCT member_id) FROM ledger_activityday
 WHERE day > %(month_before)s AND day <= %(day)s
HAVING COUNT(*) > 0
