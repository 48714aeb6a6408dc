"""What a rollup bucket holds, computed from the source rows (docs/ARCHITECTURE.md,
"Analytics").

`compute(grain, start)` runs the metric queries of `analytics/sql/` (aggregating SELECTs,
the same text on both databases but for one piece, the week of a date) over the bucket
[start, start + 1 hour or day) and returns its rows, sorted. The rebuild
(`analytics.actions`) stores them; the integrity check (`analytics.integrity`) runs it
again and compares. Time is UTC; a day is [00:00, 24:00).
"""

from __future__ import annotations

import statistics
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from django.db import connection

from analytics.models import Grain, Rollup
from config.sqlfiles import load

SQL = Path(__file__).resolve().parent / "sql"
STEP = {Grain.HOUR: timedelta(hours=1), Grain.DAY: timedelta(days=1)}
# Metrics of any bucket (counted by the time of their row) ...
RANGE_QUERIES = ("members", "ledger", "grants", "stories", "tournaments", "payments")
# ... and of days only (activity is recorded per day).
DAY_QUERIES = ("active", "retention")
# The week a member registered in (`week`), and it as 'YYYY-MM-DD' of its Monday (`label`,
# of the grouped `w`).
COHORT = {
    "postgresql": {
        "week": "date_trunc('week', m.created_at)",
        "label": "to_char(w, 'YYYY-MM-DD')",
    },
    "sqlite": {"week": "date(m.created_at, 'weekday 0', '-6 days')", "label": "w"},
}

Row = tuple[str, str, int]  # metric, dimension, value


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def adapt(value: datetime) -> object:
    """A bucket bound as the backend compares it with stored times (SQLite: naive UTC text)."""
    return connection.ops.adapt_datetimefield_value(value)


def run(name: str, params: dict, **pieces: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(load(SQL, name, **pieces), params)
        return cursor.fetchall()


def compute(grain: str, start: datetime) -> list[Row]:
    """The rows of the bucket starting at `start`, sorted by metric and dimension."""
    end = start + STEP[grain]
    params = {"start": adapt(start), "end": adapt(end)}
    rows: list[Row] = []
    for name in RANGE_QUERIES:
        rows += run(name, params)
    rows += decision_medians(params)
    if grain == Grain.DAY:
        day = start.date()
        rows += run(
            "active",
            {
                "day": day,
                "week_before": day - timedelta(days=7),
                "month_before": day - timedelta(days=30),
            },
        )
        monday = day - timedelta(days=day.weekday())
        rows += run("retention", {"day": day, "monday": monday}, **COHORT[connection.vendor])
    return sorted((str(m), str(d), int(v)) for m, d, v in rows)


def decision_medians(params: dict) -> list[Row]:
    """Median seconds from reaching a chapter to deciding it, per chapter, for the
    bucket's decisions ('narrative.decision_seconds')."""
    seconds: dict[str, list[float]] = {}
    for dimension, reached, decided in run("decision_times", params):
        reached, decided = _aware(reached), _aware(decided)
        seconds.setdefault(dimension, []).append((decided - reached).total_seconds())
    return [
        ("narrative.decision_seconds", dimension, round(statistics.median(values)))
        for dimension, values in seconds.items()
    ]


def _aware(value) -> datetime:
    if isinstance(value, str):  # SQLite returns text from a raw cursor
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def buckets(grain: str, start: datetime, end: datetime) -> list[datetime]:
    """The bucket starts in [start, end)."""
    found, step = [], STEP[grain]
    while start < end:
        found.append(start)
        start += step
    return found


def stored(grain: str, start: datetime) -> list[Row]:
    """The rows the table holds for the bucket, sorted as `compute` sorts."""
    return sorted(
        Rollup.objects.filter(grain=grain, bucket=start).values_list("metric", "dimension", "value")
    )
