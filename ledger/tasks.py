from __future__ import annotations

from celery import shared_task

from ledger.actions import expire_holds


@shared_task(name="ledger.tasks.expire_holds", ignore_result=True)
def expire_holds_task() -> int:
    """Release every pending hold past its expiry (Celery beat, every minute)."""
    return expire_holds()


@shared_task(name="ledger.tasks.archive_activity_days", ignore_result=True)
def archive_activity_days_task() -> int:
    """Archive activity days older than RETENTION_ACTIVITY_DAYS (Celery beat, daily, when
    RETENTION_ARCHIVE_DIR is set); how many were archived."""
    from datetime import timedelta
    from pathlib import Path

    from django.conf import settings

    from ledger.archive import archive_activity_days

    written = archive_activity_days(
        timedelta(days=settings.RETENTION_ACTIVITY_DAYS), Path(settings.RETENTION_ARCHIVE_DIR)
    )
    return sum(w.rows for w in written)
