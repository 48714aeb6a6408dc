"""SQL pieces the apps' PostgreSQL trigger functions share (the lowest layer has them, so
every app can)."""

from __future__ import annotations


def refuse(message: str, *args: str) -> str:
    """A PL/pgSQL statement refusing the write: `message` with `%` for each of `args` (SQL
    expressions such as `OLD.id`), as SQLSTATE 23000, which Django raises as
    IntegrityError."""
    arguments = "".join(f", {arg}" for arg in args)
    return (
        f"RAISE EXCEPTION '{message}'{arguments} USING ERRCODE = 'integrity_constraint_violation';"
    )
