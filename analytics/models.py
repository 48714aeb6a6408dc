"""Rollups: numbers per hour or day computed from the source rows, never typed in.

One narrow table (docs/ARCHITECTURE.md, "Analytics"): a row is (grain, bucket, metric,
dimension, value), e.g. ('day', 2026-12-06 00:00 UTC, 'ledger.issued', 'points:award',
1200). A metric with nothing to count in a bucket has no row (absent means zero), so a
bucket's rows are exactly what `analytics.rollup.compute` returns for it, and rebuilding
a bucket (delete its rows, insert the computed ones) is idempotent.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class Grain(models.TextChoices):
    HOUR = "hour", "Hour"  # kept for the last 48 hours
    DAY = "day", "Day"


class Rollup(models.Model):
    grain = models.CharField(max_length=4, choices=Grain.choices)
    bucket = models.DateTimeField(help_text="Start of the hour or day (UTC).")
    metric = models.CharField(max_length=64)
    dimension = models.CharField(max_length=150, blank=True)
    value = models.BigIntegerField()

    class Meta:
        permissions = [("view_analytics", "Can view the analytics pages")]
        constraints = [
            # Also the index of the page's reads (metric series over a range of buckets)
            # and of the rebuild's DELETE (grain, bucket).
            models.UniqueConstraint(
                fields=["grain", "bucket", "metric", "dimension"], name="analytics_rollup_once"
            ),
            models.CheckConstraint(
                condition=Q(grain__in=Grain.values), name="analytics_rollup_grain_valid"
            ),
        ]
        indexes = [
            # analytics.queries.series: one metric over a range of buckets.
            models.Index(fields=["metric", "grain", "bucket"], name="analytics_rollup_series"),
        ]

    def __str__(self) -> str:
        return f"{self.grain} {self.bucket:%Y-%m-%d %H:%M} {self.metric}[{self.dimension}]"
