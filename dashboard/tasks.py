from __future__ import annotations

from celery import shared_task

from dashboard.renders import warm_home


@shared_task(name="dashboard.tasks.warm_home", ignore_result=True)
def warm_home_page() -> None:
    """Today's counters and the leaderboards computed ahead of the home page (Celery beat)."""
    warm_home()
