"""The SQL of tournaments' actions, one statement (or shared fragment) a file, so that a
rule written in SQL is read as SQL and written once for both databases.

- Tables are named as the migrations name them (`tournaments_registration`); parameters
  are psycopg's `%(name)s` (Django's SQLite cursor takes the same).
- `{name}` marks a piece the action fills in when it loads the statement: a fragment of
  another file (`registration_outcome.sql`), a parameter typed for its database, a JSON
  object built from a payload schema, or a value known only at run time.
- `.pg.sql`: PostgreSQL only; the others run on both databases.
- Lines starting with `--` are comments, dropped on loading (a statement runs on one
  line, the same text every time, so that PostgreSQL prepares it once per connection).
"""

from __future__ import annotations

from pathlib import Path

FOLDER = Path(__file__).resolve().parent


def statement(name: str, **pieces: str) -> str:
    """`<name>.sql` on one line, without its comments, with its `{pieces}` filled in."""
    text = (FOLDER / f"{name}.sql").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    return " ".join(" ".join(lines).split()).format(**pieces)
