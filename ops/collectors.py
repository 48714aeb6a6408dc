"""What `/metrics` reads at scrape time, from the database and the broker: one value
per deployment, whichever process answers, so these need no multiprocess files.

Each part is read on its own: one that fails (Redis away, a table not migrated yet) is
left out of that scrape and counted in `concord_metrics_collect_errors{part}`, and
the others are still reported."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.conf import settings
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)


class ScrapeCollector(Collector):
    def collect(self) -> Iterator:
        failed = CounterMetricFamily(
            "concord_metrics_collect_errors",
            "Parts of this scrape that could not be read (left out), by part.",
            labels=["part"],
        )
        for part in (relay, integrity, celery_queues, backups, alerts):
            try:
                yield from part()
            except Exception as exc:  # one part failing must not hide the others
                logger.warning("metrics: %s could not be read: %s", part.__name__, exc)
                failed.add_metric([part.__name__], 1)
        yield failed


def relay() -> Iterator:
    from events.relay import lag

    behind = lag()
    yield GaugeMetricFamily(
        "concord_relay_lag_seconds",
        "Age of the oldest event the relay has not sent (0: caught up).",
        value=behind.behind_seconds,
    )
    yield GaugeMetricFamily(
        "concord_relay_backlog_events",
        "Events logged above the relay's position.",
        value=behind.behind_events,
    )
    yield GaugeMetricFamily(
        "concord_relay_position", "The relay's stored position (seq).", value=behind.position
    )


def integrity() -> Iterator:
    from integrity.models import IntegrityRun

    run = IntegrityRun.objects.order_by("-started_at").first()
    ok = GaugeMetricFamily(
        "concord_integrity_check_ok",
        "1 if the check passed in the latest stored integrity run, else 0.",
        labels=["check"],
    )
    violations = GaugeMetricFamily(
        "concord_integrity_check_violations",
        "Violations the check found in the latest stored integrity run.",
        labels=["check"],
    )
    duration = GaugeMetricFamily(
        "concord_integrity_check_duration_seconds",
        "How long the check took in the latest stored integrity run.",
        labels=["check"],
    )
    if run is not None:
        for check in run.report.get("checks", []):
            name = str(check.get("name"))
            ok.add_metric([name], 1.0 if check.get("status") == "ok" else 0.0)
            violations.add_metric([name], float(check.get("violations") or 0))
            duration.add_metric([name], float(check.get("duration_ms") or 0) / 1000)
        yield GaugeMetricFamily(
            "concord_integrity_last_run_timestamp_seconds",
            "When the latest stored integrity run finished (Unix time).",
            value=run.finished_at.timestamp(),
        )
        yield GaugeMetricFamily(
            "concord_integrity_last_run_ok",
            "1 if every check passed in the latest stored run.",
            value=1.0 if run.ok else 0.0,
        )
    yield from (ok, violations, duration)


def celery_queues() -> Iterator:
    """Messages waiting in each queue of METRICS_CELERY_QUEUES (none without a broker:
    on embedded defaults tasks run eagerly)."""
    from config.celery import app

    if app.conf.task_always_eager:
        return
    family = GaugeMetricFamily(
        "concord_celery_queue_length",
        "Messages waiting in a Celery queue (not yet taken by a worker).",
        labels=["queue"],
    )
    with app.connection_for_read() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        channel = conn.default_channel
        for queue in settings.METRICS_CELERY_QUEUES:
            try:
                declared = channel.queue_declare(queue=queue, passive=True)
            except Exception:  # a queue that was never declared holds nothing
                family.add_metric([queue], 0.0)
                continue
            family.add_metric([queue], float(declared.message_count))
    yield family


def backups() -> Iterator:
    from ops.models import BackupRun, DrillRun

    latest = BackupRun.objects.filter(ok=True).order_by("-finished_at").first()
    if latest is not None:
        yield GaugeMetricFamily(
            "concord_backup_last_success_timestamp_seconds",
            "When the newest successful backup finished (Unix time).",
            value=latest.finished_at.timestamp(),
        )
        yield GaugeMetricFamily(
            "concord_backup_last_size_bytes",
            "Size of the newest successful backup.",
            value=float(latest.size_bytes),
        )
    drill = DrillRun.objects.order_by("-started_at", "-pk").first()
    if drill is not None:
        yield GaugeMetricFamily(
            "concord_restore_drill_last_ok",
            "1 if the latest restore drill passed, else 0.",
            value=1.0 if drill.ok else 0.0,
        )
        yield GaugeMetricFamily(
            "concord_restore_drill_last_timestamp_seconds",
            "When the latest restore drill finished (Unix time).",
            value=drill.finished_at.timestamp(),
        )


def alerts() -> Iterator:
    from ops.models import Alert

    family = GaugeMetricFamily(
        "concord_alerts_open", "Alerts raised and not yet resolved, by rule.", labels=["rule"]
    )
    for rule, count in _open_alerts(Alert):
        family.add_metric([rule], float(count))
    yield family


def _open_alerts(model) -> list[tuple[str, int]]:
    from django.db.models import Count

    rows = model.objects.filter(state=model.OPEN).values("rule").annotate(n=Count("id"))
    return [(row["rule"], row["n"]) for row in rows.order_by("rule")]
