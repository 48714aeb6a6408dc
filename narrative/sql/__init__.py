"""Narrative's SQL, one statement or shared fragment per file, read by `narrative.actions`.

What SQLite's path (one statement at a time) and PostgreSQL's (`*.pg.sql`: the whole
choice in two statements) have in common is written once: `plan.sql` (what a choice
does), `member_state.sql` (who the member is, as a chapter's rules ask; "premium
subscriber" comes from `accounts.sql`) and `apply_impacts.sql` (how a choice moves
relationship levels).

In a file, `{name}` is filled by `load` (another fragment, or how the caller names a
value) and `%(name)s` is a parameter of the statement. `--` comments are for the reader:
`load` drops them and folds the text onto one line (no literal in these files holds `--`
or two spaces in a row).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

_HERE = Path(__file__).parent
_COMMENT = re.compile(r"--[^\n]*")


@cache
def _text(name: str) -> str:
    return " ".join(_COMMENT.sub("", (_HERE / f"{name}.sql").read_text()).split())


def load(name: str, **parts: str) -> str:
    """The SQL in `<name>.sql` on one line, its `{fields}` filled from `parts`."""
    return _text(name).format(**parts)
