-- seed_scale: each member's identity: a Telegram id (a number) that its display name
-- ('player <id>') does not contain (accounts.display_name_without_external_id).
INSERT INTO accounts_identity (platform, external_id, username, first_name, last_name, is_bot,
                               created_at, member_id)
SELECT 'telegram', (9000000000 + m.id)::text, 'p' || m.id, '', '', false, m.created_at, m.id
  FROM accounts_member m WHERE m.id > %(base)s AND m.id <= %(base)s + %(n)s
