"""Retention's scheduled work on the lowest layer (Celery beat, daily; docs/OPERATIONS.md,
"Retention"): expired sessions cleared, old events archived to RETENTION_ARCHIVE_DIR."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from celery import shared_task
from django.conf import settings
from django.core.management import call_command

from events.archive import archive_events


@shared_task(name="events.tasks.clear_sessions", ignore_result=True)
def clear_sessions() -> None:
    """Django's `clearsessions`: delete the sessions past their expiry."""
    call_command("clearsessions")


@shared_task(name="events.tasks.archive_events", ignore_result=True)
def archive_events_task() -> int:
    """Archive events older than RETENTION_EVENTS_DAYS; how many were archived."""
    written = archive_events(
        timedelta(days=settings.RETENTION_EVENTS_DAYS), Path(settings.RETENTION_ARCHIVE_DIR)
    )
    return sum(w.rows for w in written)
