-- seed_scale (PostgreSQL): members base+1 .. base+n, registered evenly over the last
-- `days` days; every tenth referred by the member before. Referral codes: the member's
-- number + 10^9 in base 31 over the referral alphabet (unique, 8 characters).
INSERT INTO accounts_member (id, display_name, language, is_active, created_at,
                             email, email_normalized, referral_code, referred_by_id)
SELECT %(base)s + g, 'player ' || (%(base)s + g), 'en', true,
       {registered_at}, '', NULL,
       (SELECT string_agg(substr('23456789ABCDEFGHJKMNPQRSTUVWXYZ',
                                 (((%(base)s + g + 1000000000) / (31 ^ k)::bigint) %% 31)::int + 1,
                                 1), '' ORDER BY k DESC)
          FROM generate_series(0, 7) k),
       CASE WHEN g %% 10 = 0 THEN %(base)s + g - 1 END
  FROM generate_series(1::bigint, %(n)s::bigint) g
