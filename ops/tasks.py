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
def restore_drill() -> list[int]:
    """The weekly restore drill of the newest logical backup (ops.drill) and, with
    PGBACKREST_CONFIG, of the pgBackRest repository (ops.physical_drill); the DrillRuns'
    ids."""
    from pathlib import Path

    from django.conf import settings

    from ops.backups import backup_files
    from ops.drill import drill
    from ops.physical_drill import physical_drill

    runs = []
    if settings.PGBACKREST_CONFIG:
        config = Path(settings.PGBACKREST_CONFIG)
        runs.append(physical_drill(config, settings.PGBACKREST_STANZA).pk)
    if not runs or backup_files():
        runs.append(drill().pk)
    return runs
