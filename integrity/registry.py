"""The check registry. A check is a named function returning its `Violations`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

SAMPLE_SIZE = 10


@dataclass(frozen=True)
class Violations:
    count: int
    sample: list = field(default_factory=list)

    @classmethod
    def from_ids(cls, ids: Iterable) -> Violations:
        """From a query returning the violating ids; counts them all, keeps a sample."""
        ids = list(ids)
        return cls(count=len(ids), sample=ids[:SAMPLE_SIZE])

    @classmethod
    def from_queryset(cls, queryset, field_name: str = "pk") -> Violations:
        """Counted and sampled in the database, for checks that may find many rows: one
        query (the first ids with `COUNT(*) OVER ()`, the count of them all), where a
        count and then a sample ran the check's query twice (7 s of a name check's 8.7 s
        at 1,000,000 members was both). A grouped or DISTINCT query: both, as before."""
        from django.db.models import Count, Window

        if queryset.query.group_by is None and not queryset.query.distinct:
            rows = list(
                queryset.annotate(_violations=Window(Count("pk")))
                .order_by(field_name)
                .values_list(field_name, "_violations")[:SAMPLE_SIZE]
            )
            return cls(count=rows[0][1] if rows else 0, sample=[row[0] for row in rows])
        return cls(
            count=queryset.count(),
            sample=list(
                queryset.order_by(field_name).values_list(field_name, flat=True)[:SAMPLE_SIZE]
            ),
        )


@dataclass(frozen=True)
class Check:
    name: str
    description: str
    func: Callable[[], Violations]


_checks: dict[str, Check] = {}


def check(name: str, description: str):
    """Register `func` as the integrity check `name` (dotted: `<app>.<rule>`)."""

    def decorator(func: Callable[[], Violations]) -> Callable[[], Violations]:
        existing = _checks.get(name)
        if existing is not None and existing.func.__qualname__ != func.__qualname__:
            raise ValueError(f"integrity check {name!r} is registered twice")
        _checks[name] = Check(name=name, description=description, func=func)
        return func

    return decorator


def all_checks() -> list[Check]:
    return sorted(_checks.values(), key=lambda c: c.name)


def get_check(name: str) -> Check:
    return _checks[name]


def unique_enforced(table: str, column: str) -> bool:
    """PostgreSQL holds a valid unique index on `table (column)` alone (no predicate, no
    expression), so no two rows can share a value: a check for duplicates may skip its
    scan of every row (`ledger.one_transfer_per_key`, `accounts.referral_codes_valid`:
    1.5 s and 0.5 s at 100,000 members). Without such an index (SQLite's are not read
    here; a dropped or invalid one), the check scans."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_index i"
            " JOIN pg_class t ON t.oid = i.indrelid"
            " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = i.indkey[0]"
            " WHERE t.relname = %s AND a.attname = %s AND pg_table_is_visible(t.oid)"
            " AND i.indisunique AND i.indisvalid AND i.indisready AND i.indnkeyatts = 1"
            " AND i.indpred IS NULL AND i.indexprs IS NULL",
            [table, column],
        )
        return cursor.fetchone() is not None
