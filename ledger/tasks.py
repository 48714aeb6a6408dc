from __future__ import annotations

from celery import shared_task

from ledger.actions import expire_holds


@shared_task(name="ledger.tasks.expire_holds", ignore_result=True)
def expire_holds_task() -> int:
    """Release every pending hold past its expiry (Celery beat, every minute)."""
    return expire_holds()
