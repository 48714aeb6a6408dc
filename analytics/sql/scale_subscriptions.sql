-- seed_scale: one member in twenty subscribes on registering, for 30 days.
-- An expired one ended at its expiry (accounts_subscription_expired_at_expiry).
INSERT INTO accounts_subscription (member_id, tier, status, starts_at, expires_at, ended_at,
                                   created_at)
SELECT m.id, (ARRAY['basic', 'premium', 'professional'])[1 + m.id %% 3],
       CASE WHEN m.created_at + interval '30 days' > %(now)s THEN 'active' ELSE 'expired' END,
       m.created_at, m.created_at + interval '30 days',
       CASE WHEN m.created_at + interval '30 days' > %(now)s THEN NULL
            ELSE m.created_at + interval '30 days' END,
       m.created_at
  FROM accounts_member m WHERE m.id > %(base)s AND m.id <= %(base)s + %(n)s AND m.id %% 20 = 0
