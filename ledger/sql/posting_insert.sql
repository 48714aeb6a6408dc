-- The postings of a transfer: one per leg, with the wallet's balance and version after it
-- (NULL for a system account). {values}: a VALUES list or a SELECT of the five columns.
INSERT INTO ledger_posting (transfer_id, account_id, amount, balance_after, version)
{values}
