"""The api app's SQL (`idempotency_*.sql`, `api_key_by_prefix.sql`, ...; format:
`config.sqlfiles`)."""

from __future__ import annotations

from pathlib import Path

from config import sqlfiles

FOLDER = Path(__file__).resolve().parent


def statement(name: str, **pieces: str) -> str:
    """`<name>.sql` on one line, without its comments, with its `{pieces}` filled in."""
    return sqlfiles.load(FOLDER, name, **pieces)
