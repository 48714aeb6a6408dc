"""The rollup writes: rebuild buckets from the source rows (analytics.rollup.compute).

A rebuild deletes the buckets' rows and inserts the computed ones in one transaction, so
readers see a bucket's old rows or its new ones, and rebuilding twice gives the same
rows. Rollups are derived data, like a cache: a rebuild publishes no event (the beat runs
it every minute; the events log is the record of what members and staff did, and every
number here is recomputable from it and the domain rows).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from analytics.exceptions import BadRange
from analytics.models import Grain
from analytics.rollup import SQL, STEP, adapt, buckets, compute, day_start
from config.sqlfiles import load

HOURS_KEPT = 48
MAX_DAYS = 3660  # ten years: a typo in a year should not start a century of work


@transaction.atomic
def rebuild(grain: str, start: datetime, end: datetime) -> int:
    """Recompute the `grain` buckets in [start, end); returns the rows written."""
    starts = buckets(grain, start, end)
    if not starts:
        return 0
    rows = [
        {
            "grain": grain,
            "bucket": adapt(bucket),
            "metric": metric,
            "dimension": dimension,
            "value": value,
        }
        for bucket in starts
        for metric, dimension, value in compute(grain, bucket)
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            load(SQL, "rollup_delete"),
            {"grain": grain, "start": adapt(starts[0]), "end": adapt(starts[-1] + STEP[grain])},
        )
        if rows:
            cursor.executemany(load(SQL, "rollup_insert"), rows)
    return len(rows)


def rebuild_days(first: date, last: date, *, progress=None) -> int:
    """Rebuild each day of [first, last] (one transaction a day), and the hours of the
    last 48 hours that fall in it. `progress(day)` is called after each day."""
    if last < first:
        raise BadRange(f"--to {last} is before --from {first}")
    if (last - first).days >= MAX_DAYS:
        raise BadRange(f"{(last - first).days + 1} days: at most {MAX_DAYS} at once")
    written = 0
    day = first
    while day <= last:
        written += rebuild(Grain.DAY, day_start(day), day_start(day + timedelta(days=1)))
        if progress is not None:
            progress(day)
        day += timedelta(days=1)
    now = timezone.now()
    hours_from = max(day_start(first), _hour(now) - timedelta(hours=HOURS_KEPT - 1))
    hours_to = min(day_start(last + timedelta(days=1)), _hour(now) + timedelta(hours=1))
    if hours_from < hours_to:
        written += rebuild(Grain.HOUR, hours_from, hours_to)
    return written


def refresh_recent(now: datetime | None = None) -> int:
    """The beat's incremental update: today and yesterday, the last two hours (an
    hour's late commits land in its successor's run), and hourly rows past 48 hours go."""
    now = now or timezone.now()
    today = now.date()
    written = rebuild(Grain.DAY, day_start(today - timedelta(days=1)), day_start(today))
    written += rebuild(Grain.DAY, day_start(today), day_start(today + timedelta(days=1)))
    written += rebuild(Grain.HOUR, _hour(now) - timedelta(hours=1), _hour(now) + timedelta(hours=1))
    prune_hours(now)
    return written


@transaction.atomic
def prune_hours(now: datetime) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            load(SQL, "hours_prune"),
            {"before": adapt(_hour(now) - timedelta(hours=HOURS_KEPT - 1))},
        )


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)
