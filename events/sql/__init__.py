"""The event log's SQL (`event_insert.sql`; format: `config.sqlfiles`), and `refuse`, the
piece the apps' PostgreSQL trigger functions share (the lowest layer has it, so every app
can)."""

from __future__ import annotations

from pathlib import Path

from config import sqlfiles

FOLDER = Path(__file__).resolve().parent


def statement(name: str, **pieces: str) -> str:
    """`<name>.sql` on one line, without its comments, with its `{pieces}` filled in."""
    return sqlfiles.load(FOLDER, name, **pieces)


def refuse(message: str, *args: str) -> str:
    """A PL/pgSQL statement refusing the write: `message` with `%` for each of `args` (SQL
    expressions such as `OLD.id`), as SQLSTATE 23000, which Django raises as
    IntegrityError."""
    arguments = "".join(f", {arg}" for arg in args)
    return (
        f"RAISE EXCEPTION '{message}'{arguments} USING ERRCODE = 'integrity_constraint_violation';"
    )
