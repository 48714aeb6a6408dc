from __future__ import annotations

from celery import shared_task

from analytics.actions import refresh_recent


@shared_task(name="analytics.tasks.refresh_rollups", ignore_result=True)
def refresh_rollups() -> int:
    """Recompute today's and yesterday's rollups and the last two hours (Celery beat)."""
    return refresh_recent()
