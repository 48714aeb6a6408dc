"""The analytics pages (/dashboard/analytics/): trends over a period with the previous
period beside them, the story funnel, the retention cohorts, each chart's numbers as a
table and as CSV, and a tile of today's flows refreshed by htmx every few seconds.

The numbers come from the rollups (analytics.report); the tile of today is the
dashboard's own counters (renders.counters: computed at most once a second for the
whole deployment), fetched after the page so its first paint does not wait for them."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from analytics import report
from analytics.exceptions import BadRange
from analytics.queries import period
from dashboard import renders
from dashboard.views import permitted

ANALYTICS = "analytics.view_analytics"
RANGES = [("24h", "24 h"), ("7d", "7 d"), ("30d", "30 d"), ("90d", "90 d"), ("custom", "custom")]


def _period(request):
    chosen = request.GET.get("range", "30d")
    return chosen, period(
        chosen, timezone.now(), request.GET.get("from", ""), request.GET.get("to", "")
    )


@permitted(ANALYTICS)
@require_GET
def analytics(request):
    try:
        chosen, span = _period(request)
    except BadRange as exc:
        return render(
            request,
            "dashboard/analytics.html",
            {"error": str(exc), "ranges": RANGES, "chosen": request.GET.get("range")},
            status=400,
        )
    built = report.build(span)
    for tile in built["tiles"]:
        tile["points"] = report.spark_points(tile["spark"])
    query = request.GET.urlencode()
    return render(
        request,
        "dashboard/analytics.html",
        {
            **built,
            "ranges": RANGES,
            "chosen": chosen,
            "query": query,
            "charts_json": [chart.as_json() for chart in built["charts"]],
            "cohorts": report.cohort_table(timezone.now().date()),
            "first": request.GET.get("from", ""),
            "last": request.GET.get("to", ""),
        },
    )


@permitted(ANALYTICS)
@require_GET
def analytics_csv(request, slug: str):
    """One chart's numbers (the same as its table), as CSV."""
    try:
        _, span = _period(request)
    except BadRange as exc:
        return HttpResponse(f"{exc}\n", status=400, content_type="text/plain; charset=utf-8")
    built = report.build(span)
    found = {chart.slug: chart for chart in built["charts"]}
    if slug == "funnel":
        text = report.funnel_csv(built["funnel"])
    elif slug == "cohorts":
        text = report.cohorts_csv(report.cohort_table(timezone.now().date()))
    elif slug in found:
        text = found[slug].csv()
    else:
        return HttpResponse("no such chart\n", status=404, content_type="text/plain")
    response = HttpResponse(text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="concord-{slug}.csv"'
    return response


@permitted(ANALYTICS)
@require_GET
def analytics_today(request):
    """The live tile: today's flows, re-fetched by htmx (hx-trigger every 10 s)."""
    return render(request, "dashboard/_analytics_today.html", {"today": renders.counters()})
