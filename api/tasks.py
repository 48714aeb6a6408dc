from __future__ import annotations

from celery import shared_task

from api import idempotency


@shared_task(name="api.tasks.purge_idempotent_requests", ignore_result=True)
def purge_idempotent_requests() -> int:
    """Forget Idempotency-Key answers past their retention (hourly, by beat)."""
    return idempotency.purge()
