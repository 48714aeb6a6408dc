"""Narrative's SQL, one statement or shared fragment per file, read by `narrative.actions`.

What SQLite's path (one statement at a time) and PostgreSQL's (`*.pg.sql`: the whole
choice in two statements) have in common is written once: `plan.sql` (what a choice
does), `member_state.sql` (who the member is, as a chapter's rules ask; "premium
subscriber" comes from `accounts.sql`) and `apply_impacts.sql` (how a choice moves
relationship levels).

The file format (comments, `{name}` pieces, `%(name)s` parameters): `config.sqlfiles`.
"""

from __future__ import annotations

from pathlib import Path

from config import sqlfiles

_HERE = Path(__file__).resolve().parent


def load(name: str, **parts: str) -> str:
    """The SQL in `<name>.sql` on one line, its `{fields}` filled from `parts`
    (`config.sqlfiles`)."""
    return sqlfiles.load(_HERE, name, **parts)
