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
