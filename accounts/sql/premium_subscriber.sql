-- {member} (an SQL expression: a member's id) is a premium subscriber at {now} (a
-- parameter: the moment, as the backend stores it): an active subscription of a premium
-- tier ({tiers}) that has started and not expired. `Subscription.objects.premium(now)`
-- says the same in Python; tests/accounts/test_premium.py holds the two to one answer.
EXISTS (SELECT 1 FROM accounts_subscription s
         WHERE s.member_id = {member} AND s.status = '{active}' AND s.tier IN ({tiers})
           AND s.starts_at <= {now} AND (s.expires_at IS NULL OR s.expires_at > {now}))
