"""Rate rules: refusals of one kind above a count per window (blocked duplicate e-mails,
refused transfers).

The counts come from the refusal counter (`concord_domain_refusals_total`, counted where
a refusal is raised, config.errors): every process's share when PROMETHEUS_MULTIPROC_DIR
is set (what a deployment needs: refusals happen in the web and worker processes, the
rules run in beat, a worker or `check_alerts`), else the evaluating process's own. Each
evaluation stores the total it read (`RateSample`); the count in the window is the
increase over the samples of the last ALERT_RATE_WINDOW_SECONDS (and the newest one
before it), a total that went down (the processes restarted, the directory emptied)
counting from zero as Prometheus's increase() does. Above the threshold: one alert
(`ops.alerts` keeps it open, no repeat); back at or under it: one resolution."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from itertools import pairwise

from django.conf import settings
from django.utils import timezone

from ops.metrics import MULTIPROCESS, REFUSALS

# rule -> (the threshold's setting, which refusals count (app, exception), what it says)
RATES: dict[str, tuple[str, Callable[[str, str], bool], str]] = {
    "duplicate_emails": (
        "ALERT_DUPLICATE_EMAILS_PER_WINDOW",
        lambda app, name: (app, name) == ("accounts", "EmailAlreadyRegistered"),
        "blocked duplicate e-mails",
    ),
    "refused_transfers": (
        "ALERT_REFUSED_TRANSFERS_PER_WINDOW",
        lambda app, name: app == "ledger",
        "refused transfers (every ledger refusal)",
    ),
}


def refusal_totals() -> dict[tuple[str, str], float]:
    """(app, exception) -> refusals raised so far, summed over the host's processes."""
    if MULTIPROCESS:
        from prometheus_client import CollectorRegistry, multiprocess

        registry = CollectorRegistry(auto_describe=False)
        multiprocess.MultiProcessCollector(registry, path=os.environ["PROMETHEUS_MULTIPROC_DIR"])
        families = registry.collect()
    else:
        families = REFUSALS.collect()
    totals: dict[tuple[str, str], float] = {}
    for family in families:
        if family.name != "concord_domain_refusals":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                key = (sample.labels["app"], sample.labels["exception"])
                totals[key] = totals.get(key, 0.0) + sample.value
    return totals


def increase(totals: list[float]) -> float:
    """What a counter added across consecutive readings (a drop is a restart from 0)."""
    return sum(
        later - earlier if later >= earlier else later for earlier, later in pairwise(totals)
    )


def rate_rule(rule: str) -> Callable[[], dict[str, tuple[str, str]]]:
    setting, counts, what = RATES[rule]

    def find() -> dict[str, tuple[str, str]]:
        from ops.models import RateSample

        limit = getattr(settings, setting)
        if not limit:
            return {}
        window = timedelta(seconds=settings.ALERT_RATE_WINDOW_SECONDS)
        now = timezone.now()
        total = sum(v for (app, name), v in refusal_totals().items() if counts(app, name))
        RateSample.objects.create(rule=rule, at=now, total=total)
        before = RateSample.objects.filter(rule=rule, at__lt=now - window).order_by("-at").first()
        if before is not None:  # the baseline stays; anything older goes
            RateSample.objects.filter(rule=rule, at__lt=before.at).delete()
        recent = RateSample.objects.filter(rule=rule, at__gte=now - window).order_by("at", "pk")
        readings = ([before.total] if before else []) + [s.total for s in recent]
        seen = increase(readings)
        if seen <= limit:
            return {}
        seconds = settings.ALERT_RATE_WINDOW_SECONDS
        return {
            rule: (
                f"{what}: {seen:g} in {seconds} s",
                f"{seen:g} {what} within the last {seconds} s, above {limit} ({setting})",
            )
        }

    find.__name__ = rule
    return find


__all__ = ["RATES", "increase", "rate_rule", "refusal_totals"]
