-- Names the member whose events this transaction may scrub (accounts.erasure), or none
-- (''): the setting the events' append-only trigger reads, local to the transaction.
SELECT set_config(%s, %s, true)
