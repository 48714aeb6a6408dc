-- Retention (day grain only): per registration week (Monday, '{cohort}'), the distinct
-- members of it active from the Monday of the day's week up to the day. The row of a
-- week's last day is that cohort's "active in this week" (analytics.queries.cohorts).
-- Members are made distinct first (each is in one cohort): one sort of ids, not of
-- cohort strings.
SELECT 'retention.active', {cohort}, COUNT(*)
  FROM (SELECT DISTINCT member_id FROM ledger_activityday
         WHERE day >= %(monday)s AND day <= %(day)s) a
  JOIN accounts_member m ON m.id = a.member_id
 GROUP BY {cohort}
