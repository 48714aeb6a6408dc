from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from ops.models import Heartbeat


@shared_task(name="ops.tasks.evaluate_alerts", ignore_result=True)
def evaluate_alerts() -> dict:
    """Evaluate the alert rules once (Celery beat, every ALERTS_EVERY_SECONDS)."""
    from ops.alerts import evaluate

    outcome = evaluate()
    return {"raised": len(outcome.raised), "resolved": len(outcome.resolved)}


@shared_task(name="ops.tasks.heartbeat", ignore_result=True)
def heartbeat() -> None:
    """Beat sends this every minute and a worker runs it: the alert rule
    `beat_or_worker_silent` reads its time."""
    Heartbeat.objects.update_or_create(name="beat", defaults={"beat_at": timezone.now()})


@shared_task(name="ops.tasks.restore_drill", ignore_result=True)
def restore_drill() -> int:
    """The weekly restore drill (ops.backups.drill); returns the DrillRun's id."""
    from ops.drill import drill

    return drill().pk
