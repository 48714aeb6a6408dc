-- The wallet of member {member} in currency {currency}.
SELECT a.id FROM ledger_account a WHERE a.member_id = {member} AND a.currency_id = {currency}
