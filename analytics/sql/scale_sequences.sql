-- seed_scale: the id sequences past the seeded rows.
SELECT setval(pg_get_serial_sequence('accounts_member', 'id'), (SELECT max(id) FROM accounts_member)),
       setval(pg_get_serial_sequence('ledger_account', 'id'), (SELECT max(id) FROM ledger_account)),
       setval(pg_get_serial_sequence('ledger_transfer', 'id'), (SELECT max(id) FROM ledger_transfer))
