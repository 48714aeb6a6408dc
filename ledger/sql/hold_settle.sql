-- Stop holding %(amount)s of the wallet (a hold captured, released or expired).
UPDATE ledger_account SET held = held - %(amount)s WHERE id = %(account)s
RETURNING balance, held
