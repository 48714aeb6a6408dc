from __future__ import annotations

from celery import shared_task

from dashboard import ranks, rolling


@shared_task(name="dashboard.tasks.build_ranks", ignore_result=True)
def build_ranks(currency: str, kind: str | None = None, first: str | None = None) -> int:
    """Build a leaderboard the relay keeps (dashboard.ranks: all time, or the `kind`
    period starting on `first`), queued by a read that found it missing."""
    return ranks.build(currency, kind, first)


@shared_task(name="dashboard.tasks.build_rolling", ignore_result=True)
def build_rolling(currency: str, name: str) -> int:
    """Build a rolling leaderboard the relay keeps (dashboard.rolling: the last 24 hours
    or 7 days), queued by a read that found it missing."""
    return rolling.build(currency, name)
