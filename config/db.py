"""Database helpers every app's write path shares; they know no app's tables or rules.

`Ref` stands for a row known only by its primary key, `pk_of` reads the key an action's
argument names, and `prepared_row` runs a hot statement prepared on PostgreSQL. They lived
in the ledger's write path (`ledger.posting`), from where tournaments and narrative
imported them; they sit below every app here, so an app's actions depend on the ledger
only for the ledger's own rules.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import psycopg
from django.db import connection

from config import private_apis


@dataclass(frozen=True)
class Ref:
    """A member, staff user or other row known only by primary key (what actions read of
    them)."""

    pk: int


def pk_of(obj, what: str, error: type[Exception], *, ids: bool = True) -> int:
    """The primary key `obj` names: a saved object's (or a `Ref`'s) int `pk`, or, with
    `ids`, `obj` itself when it is an int. Anything else raises `error` (the calling
    app's `InvalidRequest`): "<obj> is not a saved <what>". The ledger's actions take
    objects only (`ids=False`); tournaments and narrative accept a bare id as well."""
    pk = obj if ids and type(obj) is int else getattr(obj, "pk", None)
    if type(pk) is not int:  # bool is an int subclass, and not a key
        raise error(f"{obj!r} is not a saved {what}")
    return pk


def prepared_row(sql: str, params: dict) -> tuple | None:
    """One row of `sql` (psycopg's `%(name)s` parameters), run as a prepared statement on
    PostgreSQL: with `plan_cache_mode=force_generic_plan` (the connection options) it is
    planned once per connection; for hot statements planning cost more server CPU than
    running them. Through Django's cursor elsewhere. Errors are wrapped as Django's.

    Django's cursors bind client-side and never prepare, so on PostgreSQL this uses
    psycopg's own cursor on Django's connection (same transaction), and Django's
    `wrap_database_errors` to raise `django.db` errors (`config.private_apis`)."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()
    raw, names = _numbered(sql)
    connection.ensure_connection()
    with (
        private_apis.django_errors(connection),
        psycopg.RawCursor(connection.connection) as cursor,
    ):
        cursor.execute(raw, [params[name] for name in names], prepare=True)
        return cursor.fetchone()


_PLACEHOLDER = re.compile(r"%(?:\((.*?)\))?(.?)", re.DOTALL)  # psycopg's own tokens


@functools.cache
def _numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """`sql` with PostgreSQL's `$n` placeholders for its `%(name)s` ones (a name used
    twice is one parameter, `%%` is `%`), and the names in `$n` order: converted once per
    statement. psycopg's ordinary cursor converts on every execute and keeps the result
    only for statements under 4 KB; an award written with its API answer
    (`ledger.posting.Rider`) is longer, and converting it was ~17% of an API worker's CPU.
    A `RawCursor` (public psycopg API) takes the `$n` text as it is. Anything psycopg
    would refuse here (`%s`, `%b`, a lone `%`) raises `ValueError`."""
    names: list[str] = []

    def number(match: re.Match) -> str:
        name, kind = match.groups()
        if name is None and kind == "%":
            return "%"
        if name is None or kind != "s":
            raise ValueError(
                f"prepared_row takes %(name)s parameters only (and %% for %), not {match[0]!r}"
            )
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _PLACEHOLDER.sub(number, sql), tuple(names)
