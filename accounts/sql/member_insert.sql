-- A member row (registration's first; its referral code is retried on a collision).
INSERT INTO accounts_member (display_name, language, is_active, created_at, last_active_at,
                             email, email_normalized, referral_code, referred_by_id)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
RETURNING id
