from __future__ import annotations

from celery import shared_task

from dashboard import ranks


@shared_task(name="dashboard.tasks.build_ranks", ignore_result=True)
def build_ranks(currency: str) -> int:
    """Build `currency`'s ranks store (dashboard.ranks), queued by a read that found it
    missing."""
    return ranks.build(currency)
