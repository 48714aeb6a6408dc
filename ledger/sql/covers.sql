-- The wallet {wallet} (a table or alias) covers a change of its balance by {delta} and of
-- its held funds by {held_delta}: its balance stays at least what it holds, and it never
-- holds less than nothing. The database holds the same with the CHECKs
-- ledger_account_balance_not_negative and ledger_account_holds_covered.
{wallet}.balance + {delta} >= {wallet}.held + {held_delta} AND {wallet}.held + {held_delta} >= 0
