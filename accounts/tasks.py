from __future__ import annotations

from celery import shared_task

from accounts.actions import EXPIRE_BATCH, expire_subscriptions


@shared_task(name="accounts.tasks.expire_subscriptions", ignore_result=True)
def expire_subscriptions_task(batch: int = EXPIRE_BATCH) -> int:
    """Store every active subscription past its expiry as expired (Celery beat, every
    `EXPIRE_SUBSCRIPTIONS_EVERY_SECONDS`), a batch per transaction; returns how many."""
    total = 0
    while True:
        expired = expire_subscriptions(batch=batch)
        total += expired
        if expired < batch:
            return total
