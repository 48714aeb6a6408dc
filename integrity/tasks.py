from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from integrity.models import IntegrityRun
from integrity.runner import run_checks
from ops.metrics import INTEGRITY_RUNS


@shared_task(name="integrity.tasks.run_integrity_report", ignore_result=True)
def run_integrity_report() -> int:
    """Run every check and store the run; returns the stored run's id."""
    started = timezone.now()
    report = run_checks()
    run = IntegrityRun.objects.create(
        started_at=started,
        finished_at=timezone.now(),
        ok=report.ok,
        failed_checks=sum(1 for r in report.checks if r.status != "ok"),
        report=report.as_dict(),
    )
    INTEGRITY_RUNS.labels("ok" if report.ok else "failed").inc()
    return run.pk
