"""Running the integrity report and keeping its run: what the command, the scheduled task
and the dashboard's "Run now" all call."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

import events
from integrity import payloads
from integrity.models import IntegrityRun
from integrity.runner import Report, run_checks
from ops.metrics import INTEGRITY_RUNS


def run_report(names: list[str] | None = None, *, actor=None, store: bool = True):
    """Run the checks (`names`, else all). A run of every check is counted in /metrics
    and, with `store`, kept as an `IntegrityRun` with an `integrity.run_finished` event
    (so the dashboard's integrity tile and page update live). A run of some checks only
    is not kept: the tile says what the whole report found. Returns (report, the stored
    run or None).

    The checks run outside any transaction of ours (each in its own snapshot); only the
    stored row and its event are written together."""
    started = timezone.now()
    report = run_checks(names)
    if names:
        return report, None
    INTEGRITY_RUNS.labels("ok" if report.ok else "failed").inc()
    return report, (_store(report, started, actor) if store else None)


@transaction.atomic
def _store(report: Report, started, actor) -> IntegrityRun:
    finished = timezone.now()
    failed = [result.name for result in report.checks if result.status != "ok"]
    run = IntegrityRun.objects.create(
        started_at=started,
        finished_at=finished,
        ok=report.ok,
        failed_checks=len(failed),
        report=report.as_dict(),
    )
    events.publish(
        "integrity.run_finished",
        payloads.run_finished(
            run_id=run.pk,
            ok=report.ok,
            checks=len(report.checks),
            failed=failed,
            duration_ms=round((finished - started).total_seconds() * 1000),
        ),
        actor=actor,
        subject=f"integrity_run:{run.pk}",
    )
    return run
