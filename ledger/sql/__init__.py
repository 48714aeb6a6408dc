"""The ledger's hand-written SQL, one statement or shared fragment a file.

The posting path has two languages: on PostgreSQL one statement does a whole transfer
(`post.pg.sql`); on SQLite `ledger.posting` runs its steps one statement each. What the
two share is written once and filled into both:

- `wallet_id.sql`, `system_account_id.sql`: which account a leg moves;
- `covers.sql`: the rule that a wallet covers its change (never below what it holds,
  never holding less than nothing), which `ledger_account_balance_not_negative` and
  `ledger_account_holds_covered` hold again in the database;
- `transfer_insert.sql`, `posting_insert.sql`: the rows a transfer writes;
- `balance_achievements_due.sql`: the balance achievements a credited wallet reaches.

Tables are named as Django names them (`<app>_<model>`, never overridden: tests/
test_sql_convention.py); parameters are `%(name)s` (or `%s`); `{name}` is a piece filled
in by the caller; `.pg.sql` runs on PostgreSQL only. File format: `config.sqlfiles`.
"""

from __future__ import annotations

from pathlib import Path

from config import sqlfiles

FOLDER = Path(__file__).resolve().parent


def statement(name: str, **pieces: str) -> str:
    """`<name>.sql` on one line, without its comments, with its `{pieces}` filled in."""
    return sqlfiles.load(FOLDER, name, **pieces)
