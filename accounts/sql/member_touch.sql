-- `accounts.actions.note_activity`: mark member %(member)s active at %(now)s, unless it
-- was marked at or after %(since)s (a minute before): a busy member costs at most one
-- write a minute, and the condition is the database's, so concurrent callers agree.
UPDATE accounts_member SET last_active_at = %(now)s
 WHERE id = %(member)s AND (last_active_at IS NULL OR last_active_at < %(since)s)
