-- seed_scale: each member's identity and profile.
INSERT INTO accounts_identity (platform, external_id, username, created_at, member_id)
SELECT 'telegram', 'scale-' || m.id, 'p' || m.id, m.created_at, m.id
  FROM accounts_member m WHERE m.id > %(base)s AND m.id <= %(base)s + %(n)s
