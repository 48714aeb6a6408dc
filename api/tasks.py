from __future__ import annotations

from celery import shared_task

from api import idempotency


@shared_task(name="api.tasks.purge_idempotent_requests", ignore_result=True)
def purge_idempotent_requests() -> int:
    """Forget Idempotency-Key answers past their retention (hourly, by beat)."""
    return idempotency.purge()


@shared_task(name="api.tasks.deliver_webhooks", ignore_result=True)
def deliver_webhooks() -> int:
    """Queue new events for every webhook endpoint and send each due endpoint its own
    task (beat, every WEBHOOK_TICK_SECONDS); returns how many deliveries were queued."""
    from api import delivery

    return delivery.tick(dispatch=lambda endpoint_id: deliver_endpoint.delay(endpoint_id))


@shared_task(name="api.tasks.deliver_endpoint", ignore_result=True)
def deliver_endpoint(endpoint_id: int) -> int:
    """Send one endpoint its due deliveries, in seq order (one sender at a time: a lease)."""
    from api import delivery

    return delivery.deliver_endpoint(endpoint_id)


@shared_task(name="api.tasks.prune_webhook_deliveries", ignore_result=True)
def prune_webhook_deliveries() -> int:
    """Delete delivered webhook deliveries older than WEBHOOK_DELIVERY_RETENTION (daily, by
    beat); returns how many."""
    from django.conf import settings

    from api import actions

    return actions.prune_deliveries(settings.WEBHOOK_DELIVERY_RETENTION).deliveries
