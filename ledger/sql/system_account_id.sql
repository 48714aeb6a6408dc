-- The system account named {system} in currency {currency}.
SELECT a.id FROM ledger_account a
 WHERE a.member_id IS NULL AND a.currency_id = {currency} AND a.name = {system}
