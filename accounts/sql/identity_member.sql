-- The member an identity (platform %s, external id %s) belongs to.
SELECT member_id FROM accounts_identity WHERE platform = %s AND external_id = %s
