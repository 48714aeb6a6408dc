"""Reads of the rollups for the analytics pages: periods, series, the story funnel and
the retention cohorts. Every number shown comes from `analytics_rollup` (the
`analytics_rollup_series` index), never from the source tables (the live tile of today
is the dashboard's counters, dashboard.renders).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from analytics.exceptions import BadRange
from analytics.models import Grain, Rollup
from analytics.rollup import buckets, day_start

PRESETS = {"24h": None, "7d": 7, "30d": 30, "90d": 90}
MAX_CUSTOM_DAYS = 366


@dataclass(frozen=True)
class Period:
    grain: str
    start: datetime  # first bucket
    end: datetime  # after the last bucket
    label: str

    @property
    def starts(self) -> list[datetime]:
        return buckets(self.grain, self.start, self.end)

    def previous(self) -> Period:
        length = self.end - self.start
        return Period(self.grain, self.start - length, self.start, f"before {self.label}")


def period(preset: str, now: datetime, first: str = "", last: str = "") -> Period:
    """The period a picker value names: 24h (hours), 7d/30d/90d (days up to today),
    custom (days first..last)."""
    if preset == "24h":
        hour = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        return Period(Grain.HOUR, hour - timedelta(hours=24), hour, "last 24 hours")
    if preset in PRESETS:
        days = PRESETS[preset]
        end = day_start(now.date() + timedelta(days=1))
        return Period(Grain.DAY, end - timedelta(days=days), end, f"last {days} days")
    if preset != "custom":
        raise BadRange(f"unknown range {preset!r}: one of 24h, 7d, 30d, 90d, custom")
    try:
        first_day, last_day = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError:
        raise BadRange("custom range: from and to are dates (YYYY-MM-DD)") from None
    if last_day < first_day:
        raise BadRange("custom range: to is before from")
    if (last_day - first_day).days >= MAX_CUSTOM_DAYS:
        raise BadRange(f"custom range: at most {MAX_CUSTOM_DAYS} days")
    return Period(
        Grain.DAY,
        day_start(first_day),
        day_start(last_day + timedelta(days=1)),
        f"{first_day} to {last_day}",
    )


class Frame:
    """The rollup rows of some metrics over a period, by (bucket, metric, dimension)."""

    def __init__(self, span: Period, metrics: list[str]):
        self.period = span
        self.values: dict[tuple[datetime, str, str], int] = {}
        rows = Rollup.objects.filter(
            grain=span.grain, bucket__gte=span.start, bucket__lt=span.end, metric__in=metrics
        ).values_list("bucket", "metric", "dimension", "value")
        for bucket, metric, dimension, value in rows:
            self.values[bucket.astimezone(UTC), metric, dimension] = value

    def series(self, metric: str, prefix: str = "") -> list[int]:
        """Per bucket, the sum over the metric's dimensions starting with `prefix`."""
        sums: dict[datetime, int] = defaultdict(int)
        for (bucket, name, dimension), value in self.values.items():
            if name == metric and dimension.startswith(prefix):
                sums[bucket] += value
        return [sums.get(start, 0) for start in self.period.starts]

    def total(self, metric: str, prefix: str = "") -> int:
        return sum(self.series(metric, prefix))

    def by_dimension(self, metric: str) -> dict[str, int]:
        sums: dict[str, int] = defaultdict(int)
        for (_, name, dimension), value in self.values.items():
            if name == metric:
                sums[dimension] += value
        return dict(sorted(sums.items()))

    def daily(self, metric: str) -> dict[str, list[int]]:
        """Per dimension, its non-zero values (for medians of daily medians)."""
        found: dict[str, list[int]] = defaultdict(list)
        for (_, name, dimension), value in self.values.items():
            if name == metric:
                found[dimension].append(value)
        return found


def funnel(frame: Frame) -> dict[int, list[dict]]:
    """Per story id, its chapters in order: members who reached and decided each in the
    period, the drop-off (reached but not decided there) and the median of the daily
    median seconds from reaching to deciding."""
    reached, decided = (
        frame.by_dimension("narrative.reached"),
        frame.by_dimension("narrative.decided"),
    )
    medians = frame.daily("narrative.decision_seconds")
    stories: dict[int, list[dict]] = defaultdict(list)
    for key in sorted(reached.keys() | decided.keys(), key=_chapter_key):
        story, chapter = _chapter_key(key)
        came, left = reached.get(key, 0), decided.get(key, 0)
        stories[story].append(
            {
                "chapter": chapter,
                "reached": came,
                "decided": left,
                "drop_off": max(came - left, 0),
                "drop_off_pct": round(100 * max(came - left, 0) / came, 1) if came else None,
                "median_seconds": round(statistics.median(medians[key]))
                if medians.get(key)
                else None,
            }
        )
    return dict(stories)


def _chapter_key(dimension: str) -> tuple[int, int]:
    story, _, chapter = dimension.partition(":")
    return int(story), int(chapter)


def cohorts(weeks: int, today: date) -> list[dict]:
    """The last `weeks` registration weeks (Mondays), each with its size and, per week
    since, the members of it active that week (the row of the week's last day, or of
    today for the current week)."""
    this_monday = today - timedelta(days=today.weekday())
    mondays = [this_monday - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]
    last_days = [min(monday + timedelta(days=6), today) for monday in mondays]
    active: dict[tuple[date, str], int] = {}
    for bucket, dimension, value in Rollup.objects.filter(
        grain=Grain.DAY,
        metric="retention.active",
        bucket__in=[day_start(day) for day in last_days],
    ).values_list("bucket", "dimension", "value"):
        active[bucket.astimezone(UTC).date(), dimension] = value
    sizes: dict[date, int] = defaultdict(int)
    for bucket, value in Rollup.objects.filter(
        grain=Grain.DAY,
        metric="members.registered",
        bucket__gte=day_start(mondays[0]),
        bucket__lt=day_start(today + timedelta(days=1)),
    ).values_list("bucket", "value"):
        day = bucket.astimezone(UTC).date()
        sizes[day - timedelta(days=day.weekday())] += value
    rows = []
    for index, monday in enumerate(mondays):
        size = sizes.get(monday, 0)
        cells = []
        for later in last_days[index:]:
            count = active.get((later, monday.isoformat()), 0)
            cells.append({"active": count, "pct": round(100 * count / size) if size else None})
        rows.append({"week": monday, "size": size, "weeks": cells})
    return rows
