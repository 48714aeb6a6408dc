from __future__ import annotations

from celery import shared_task

from config.db import Ref
from integrity.actions import run_report


@shared_task(name="integrity.tasks.run_integrity_report", ignore_result=True)
def run_integrity_report(actor_id: int | None = None) -> int:
    """Run every check and store the run; returns the stored run's id. `actor_id`: the
    staff user who asked (the dashboard's "Run now"), named by the run's event."""
    _, run = run_report(actor=Ref(actor_id) if actor_id else None)
    return run.pk
