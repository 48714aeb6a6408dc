"""SQL kept in `.sql` files beside the code that runs it (`narrative/sql/`,
`tournaments/sql/`): one statement or shared fragment a file, read as SQL and written once
for both databases.

In a file, `--` starts a comment for the reader (dropped on loading, with the rest of its
line: no literal in these files holds `--`), `{name}` is a piece the caller fills in
(another fragment, a parameter typed for its database, a value known at run time) and
`%(name)s` is a parameter of the statement. A loaded statement is one line, the same text
every time, so that PostgreSQL prepares it once per connection.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

_COMMENT = re.compile(r"--[^\n]*")


@cache
def _text(path: Path) -> str:
    return " ".join(_COMMENT.sub("", path.read_text(encoding="utf-8")).split())


def load(folder: Path, name: str, **pieces: str) -> str:
    """`<folder>/<name>.sql` on one line, without its comments, its `{pieces}` filled in."""
    return _text(folder / f"{name}.sql").format(**pieces)


def postgres_function(folder: Path, name: str, signature: str):
    """A migration operation that creates the PostgreSQL function in `<folder>/<name>.sql`
    (run as written: the file is the function's current version, readable without
    replaying migrations) and drops `signature` when reversed; nothing on SQLite.

    Changing a function: edit its file and add a migration running this again (CREATE OR
    REPLACE). Replaying the older migrations then creates the newer text earlier, which
    ends in the same state; a changed signature needs a new name."""
    from django.db import migrations

    def create(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            text = (folder / f"{name}.sql").read_text(encoding="utf-8")
            schema_editor.execute(text, params=None)

    def drop(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"DROP FUNCTION IF EXISTS {signature}", params=None)

    return migrations.RunPython(create, drop)
