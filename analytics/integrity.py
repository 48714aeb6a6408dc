"""The rollups agree with the source rows they summarise.

`analytics.rollups_match_source` recomputes sampled days (`analytics.rollup.compute`,
the aggregating SELECTs, read-only) and compares them with the stored rows: the latest
settled day (before yesterday: today's and yesterday's rows are the beat's to refresh,
so a write since its last run is not a fault) and two more at random. A difference is a
planted or stale row; `manage.py rollup --from D --to D` rebuilds the day.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from django.utils import timezone

from analytics.models import Grain, Rollup
from analytics.rollup import compute, day_start, stored
from integrity.registry import Violations, check

SAMPLED_DAYS = 3


def mismatches(day: date) -> list[str]:
    """What the stored rows of `day` get wrong: 'day metric[dimension]: stored x, source y'."""
    start = day_start(day)
    have = {(m, d): v for m, d, v in stored(Grain.DAY, start)}
    want = {(m, d): v for m, d, v in compute(Grain.DAY, start)}
    return [
        f"{day} {metric}[{dimension}]: stored {have.get((metric, dimension), 0)},"
        f" source {want.get((metric, dimension), 0)}"
        for metric, dimension in sorted(have.keys() | want.keys())
        if have.get((metric, dimension)) != want.get((metric, dimension))
    ]


def sample_days(today: date, rng: random.Random | None = None) -> list[date]:
    """The latest settled day with rows, and up to two other settled days at random."""
    settled = sorted(
        {
            bucket.date()
            for bucket in Rollup.objects.filter(
                grain=Grain.DAY, bucket__lt=day_start(today - timedelta(days=1))
            )
            .values_list("bucket", flat=True)
            .distinct()
        }
    )
    if not settled:
        return []
    others = settled[:-1]
    rng = rng or random.Random()
    return [settled[-1], *rng.sample(others, min(len(others), SAMPLED_DAYS - 1))]


@check(
    "analytics.rollups_match_source",
    "Sampled settled days' rollup rows equal what the ledger, events and domain rows give"
    " when recomputed.",
)
def rollups_match_source() -> Violations:
    found = []
    for day in sample_days(timezone.now().date()):
        found += mismatches(day)
    return Violations.from_ids(found)
