-- Retention (day grain only): per registration week (Monday, '{cohort}'), the distinct
-- members of it active from the Monday of the day's week up to the day. The row of a
-- week's last day is that cohort's "active in this week" (analytics.queries.cohorts).
SELECT 'retention.active', {cohort}, COUNT(DISTINCT a.member_id)
  FROM ledger_activityday a JOIN accounts_member m ON m.id = a.member_id
 WHERE a.day >= %(monday)s AND a.day <= %(day)s
 GROUP BY {cohort}
