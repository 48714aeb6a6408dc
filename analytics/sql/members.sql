-- Members registered in the bucket, and those of them a referral brought (a referral
-- converts when the referred member registers).
SELECT 'members.registered', '', COUNT(*) FROM accounts_member
 WHERE created_at >= %(start)s AND created_at < %(end)s
HAVING COUNT(*) > 0
UNION ALL
SELECT 'referrals.converted', '', COUNT(*) FROM accounts_member
 WHERE created_at >= %(start)s AND created_at < %(end)s AND referred_by_id IS NOT NULL
HAVING COUNT(*) > 0
