-- SQLite's step of post.pg.sql's `wallets`: one wallet's leg, only if it covers it; its
-- balance and version after, or no row.
UPDATE ledger_account
   SET balance = balance + %(delta)s, held = held + %(held_delta)s, version = version + 1
 WHERE id = %(account)s AND {covers}
RETURNING balance, version
