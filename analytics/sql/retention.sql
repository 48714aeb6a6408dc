-- Retention (day grain only): per registration week (its Monday, as YYYY-MM-DD), the
-- distinct members of it active from the Monday of the day's week up to the day. The
-- row of a week's last day is that cohort's "active in this week"
-- (analytics.queries.cohorts). A semi-join of the members with the week's activity days
-- (no DISTINCT over them first), grouped by the week before it is formatted: at 1,000,000
-- members, 510,000 active in a week, 0.99 s to 0.57 s.
SELECT 'retention.active', {label}, n
  FROM (SELECT {week} AS w, COUNT(*) AS n
          FROM accounts_member m
         WHERE EXISTS (SELECT 1 FROM ledger_activityday a
                        WHERE a.member_id = m.id AND a.day >= %(monday)s AND a.day <= %(day)s)
         GROUP BY {week}) cohorts
