-- ledger_short(transfer_key): lets the posting statement (post.pg.sql) abort itself.
-- The statement writes the transfer before it knows every wallet can cover its change;
-- when one cannot, its last expression calls this to raise (SQLSTATE CL001, which
-- ledger.posting turns into InsufficientFunds), so the statement is atomic by itself.
-- Created from this file by migration ledger 0004 (config.sqlfiles.postgres_function):
-- this is its current version.
CREATE OR REPLACE FUNCTION ledger_short(transfer_key text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a wallet cannot cover transfer %', transfer_key
        USING ERRCODE = 'CL001';
END
$$
