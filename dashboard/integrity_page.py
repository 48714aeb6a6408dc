"""The integrity page: each check of the latest stored run with its samples, the history
of runs, and "Run now" for those who may run the report (`integrity.run_report`).

"Run now" hands the report to Celery (a worker on the default queue runs it; on
embedded defaults it runs before the answer) and notes the request in the cache: until a
run started after it is stored, the page polls its own run panel every 2 s, so the
result appears where it was asked for. The home tile updates live from the run's
`integrity.run_finished` event."""

from __future__ import annotations

import contextlib

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_POST

from dashboard.controls import permitted
from integrity.models import IntegrityRun
from integrity.registry import all_checks

VIEW = "dashboard.view_dashboard"  # every role; each also holds integrity.view_integrityrun
RUN = "integrity.run_report"
HISTORY = 30
REQUESTED = "dashboard:integrity:requested"  # when "Run now" was last pressed (ISO)
REQUEST_TTL = 600  # seconds: a request no worker took in that time stops the polling


@permitted(VIEW)
@require_GET
def integrity(request):
    runs = list(IntegrityRun.objects.order_by("-started_at", "-pk")[:HISTORY])
    chosen = request.GET.get("run", "")
    if chosen.isascii() and chosen.isdigit() and len(chosen) <= 18:
        shown = get_object_or_404(IntegrityRun, pk=int(chosen))
    else:
        shown = runs[0] if runs else None
    descriptions = {check.name: check.description for check in all_checks()}
    checks = [
        {**result, "description": descriptions.get(result.get("name"), "")}
        for result in (shown.report.get("checks", []) if shown else [])
    ]
    checks.sort(key=lambda result: (result.get("status") == "ok", result.get("name", "")))
    took = (shown.finished_at - shown.started_at).total_seconds() if shown else None
    return render(
        request,
        "dashboard/integrity.html",
        {
            "runs": runs,
            "shown": shown,
            "checks": checks,
            "took": took,
            "every": settings.CELERY_BEAT_SCHEDULE["integrity-report"]["schedule"],
            "pending": _pending(runs[0] if runs else None),
            "can_run": request.user.has_perm(RUN),
        },
    )


def _pending(latest: IntegrityRun | None):
    """When "Run now" was pressed, if no run started since (else None)."""
    with contextlib.suppress(Exception):  # no cache: nothing is known to be pending
        asked = parse_datetime(cache.get(REQUESTED) or "")
        if asked and (latest is None or latest.started_at < asked):
            return asked
    return None


@permitted(RUN)
@require_POST
def integrity_run(request):
    from integrity.tasks import run_integrity_report

    if _pending(IntegrityRun.objects.order_by("-started_at", "-pk").first()):
        # Pressed again before the run asked for was kept: one run, not a queue of them.
        messages.info(request, "A run is already on its way: the result appears below.")
        return redirect("dashboard:integrity")
    with contextlib.suppress(Exception):
        cache.set(REQUESTED, timezone.now().isoformat(), REQUEST_TTL)
    try:
        run_integrity_report.apply_async(
            kwargs={"actor_id": request.user.pk}, queue=settings.CELERY_TASK_DEFAULT_QUEUE
        )
    except Exception as exc:  # the broker is away: say so, nothing was started
        messages.error(request, f"Could not start the report: {type(exc).__name__}.")
        with contextlib.suppress(Exception):
            cache.delete(REQUESTED)
    else:
        messages.success(request, "Integrity report started: the result appears below.")
    return redirect("dashboard:integrity")
