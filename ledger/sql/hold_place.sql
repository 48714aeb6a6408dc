-- Hold %(amount)s more of the wallet, only if it covers it (nothing moves but held).
UPDATE ledger_account SET held = held + %(amount)s
 WHERE id = %(account)s AND {covers}
RETURNING balance, held
