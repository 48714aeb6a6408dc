"""The SQL of tournaments' actions, one statement (or shared fragment) a file, so that a
rule written in SQL is read as SQL and written once for both databases.

- Tables are named as the migrations name them (`tournaments_registration`); parameters
  are psycopg's `%(name)s` (Django's SQLite cursor takes the same).
- `{name}` marks a piece the action fills in when it loads the statement: a fragment of
  another file (`registration_outcome.sql`), a parameter typed for its database, a JSON
  object built from a payload schema, or a value known only at run time.
- `.pg.sql`: PostgreSQL only; the others run on both databases.
- The file format (comments, pieces, one line once loaded): `config.sqlfiles`.
"""

from __future__ import annotations

from pathlib import Path

from config import sqlfiles

FOLDER = Path(__file__).resolve().parent


def statement(name: str, **pieces: str) -> str:
    """`<name>.sql` on one line, without its comments, with its `{pieces}` filled in
    (`config.sqlfiles`)."""
    return sqlfiles.load(FOLDER, name, **pieces)
