-- The currency whose code is {code}.
SELECT id FROM ledger_currency WHERE code = {code}
