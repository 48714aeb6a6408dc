-- Achievements granted (per achievement code) and subscriptions started (per tier).
SELECT 'achievements.granted', a.code, COUNT(*)
  FROM ledger_memberachievement g JOIN ledger_achievement a ON a.id = g.achievement_id
 WHERE g.granted_at >= %(start)s AND g.granted_at < %(end)s
 GROUP BY a.code
UNION ALL
SELECT 'subscriptions.started', tier, COUNT(*) FROM accounts_subscription
 WHERE starts_at >= %(start)s AND starts_at < %(end)s
 GROUP BY tier
