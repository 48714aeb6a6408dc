"""The alert rules: each a function returning the conditions failing now, as
{alert key: (title, body)}. Every threshold is a setting (docs/OPERATIONS.md, "Alerts").

A key names the rule and what failed (`integrity:ledger.transfers_balanced`), so a
second check failing is a second alert, and the same check failing run after run stays
one. A rule whose threshold is 0 is off."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from ops.rates import RATES, rate_rule

Failing = dict[str, tuple[str, str]]


def integrity() -> Failing:
    """Each check failing (or unable to run) in the latest stored integrity run."""
    from integrity.models import IntegrityRun

    run = IntegrityRun.objects.order_by("-started_at").first()
    if run is None:
        return {}
    failing = {}
    for check in run.report.get("checks", []):
        if check.get("status") == "ok":
            continue
        name = str(check.get("name"))
        detail = check.get("error") or f"{check.get('violations')} violation(s)"
        sample = check.get("sample") or []
        body = f"{name}: {detail} in the run of {run.started_at:%Y-%m-%d %H:%M:%S} UTC"
        if sample:
            body += f"; sample: {', '.join(str(item) for item in sample[:5])}"
        failing[f"integrity:{name}"] = (f"integrity check {name} fails", body)
    return failing


def healthz() -> Failing:
    """Each service `/healthz` reports down (the relay aside: its own rule has its own
    threshold). With ALERT_HEALTHZ_URL the probe is an HTTP request to that URL (the web
    tier seen from outside), else the checks run here."""
    url = settings.ALERT_HEALTHZ_URL
    if url:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as error:
            body = json.load(error)
        except Exception as exc:
            return {"healthz:unreachable": ("/healthz does not answer", f"{url}: {exc}")}
        services = body.get("services", {})
    else:
        from config.health import CHECKS, _timed

        async def probe():
            checks = [_timed(name, fn) for name, fn in CHECKS.items() if name != "relay"]
            return dict(await asyncio.gather(*checks))

        services = asyncio.run(probe())
    return {
        f"healthz:{name}": (
            f"/healthz: {name} is down",
            f"{name}: {state.get('error') or 'down'}",
        )
        for name, state in services.items()
        if name != "relay" and not state.get("ok")
    }


def relay_lag() -> Failing:
    limit = settings.ALERT_RELAY_LAG_SECONDS
    if not limit:
        return {}
    from events.relay import lag

    behind = lag()
    if behind.behind_seconds <= limit:
        return {}
    return {
        "relay_lag": (
            f"the relay is more than {limit} s behind",
            f"oldest unsent event {behind.behind_seconds:.0f} s old,"
            f" {behind.behind_events} event(s) behind, position {behind.position}",
        )
    }


def holds_expired() -> Failing:
    grace = settings.ALERT_HOLDS_GRACE_SECONDS
    if not grace:
        return {}
    from ledger.models import Hold, HoldStatus

    late = Hold.objects.filter(
        status=HoldStatus.PENDING, expires_at__lt=timezone.now() - timedelta(seconds=grace)
    ).count()
    if not late:
        return {}
    return {
        "holds_expired": (
            "holds pending past their expiry",
            f"{late} hold(s) still pending more than {grace} s after expiry"
            " (ledger.tasks.expire_holds is not running)",
        )
    }


def silent() -> Failing:
    """Beat sends `ops.tasks.heartbeat` every minute and a worker runs it: a heartbeat
    older than ALERT_SILENT_SECONDS means one of them stopped (none yet: not judged)."""
    limit = settings.ALERT_SILENT_SECONDS
    if not limit:
        return {}
    from ops.models import Heartbeat

    beat = Heartbeat.objects.filter(name="beat").first()
    if beat is None or timezone.now() - beat.beat_at <= timedelta(seconds=limit):
        return {}
    return {
        "beat_or_worker_silent": (
            "Celery beat or worker is silent",
            f"no heartbeat since {beat.beat_at:%Y-%m-%d %H:%M:%S} UTC (limit {limit} s)",
        )
    }


def backup_stale() -> Failing:
    hours = settings.ALERT_BACKUP_MAX_AGE_HOURS
    if not hours:
        return {}
    from ops.models import BackupRun

    newest = BackupRun.objects.filter(ok=True).order_by("-finished_at").first()
    if newest is not None and timezone.now() - newest.finished_at <= timedelta(hours=hours):
        return {}
    when = "never" if newest is None else f"{newest.finished_at:%Y-%m-%d %H:%M:%S} UTC"
    return {
        "backup_stale": (
            f"no backup in the last {hours} h",
            f"newest successful backup: {when} (manage.py backup --logical)",
        )
    }


def drill_failed() -> Failing:
    """The latest logical drill (`drill_failed`) and the latest drill of the pgBackRest
    repository (`drill_failed:pgbackrest`), each on its own."""
    from ops.models import DrillRun

    failing = {}
    for key, drills in (
        ("drill_failed", DrillRun.objects.exclude(path__startswith="pgbackrest:")),
        ("drill_failed:pgbackrest", DrillRun.objects.filter(path__startswith="pgbackrest:")),
    ):
        drill = drills.order_by("-started_at", "-pk").first()
        if drill is not None and not drill.ok:
            failing[key] = (
                "the restore drill failed"
                + (" (pgBackRest repository)" if key != "drill_failed" else ""),
                f"drill of {drill.started_at:%Y-%m-%d %H:%M:%S} UTC: {drill.error}",
            )
    return failing


RULES = {
    "integrity": integrity,
    "healthz": healthz,
    "relay_lag": relay_lag,
    "holds_expired": holds_expired,
    "beat_or_worker_silent": silent,
    "backup_stale": backup_stale,
    "drill_failed": drill_failed,
    **{rule: rate_rule(rule) for rule in RATES},
}
