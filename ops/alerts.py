"""Alerts: evaluate the rules (`ops.rules`), open an alert per new failure, resolve it
when the condition clears, and tell people through Apprise (`ALERT_URLS`).

De-duplication is a row: `ops.Alert` has at most one open row per key
(`ops_alert_one_open_per_key`). A failing condition with an open row sends nothing; one
without opens a row (and, in the same transaction, publishes `system.alert_raised`); an
open row whose condition no longer fails is claimed as resolved
(`filter(pk, state=open).update(...) == 1`, so two evaluators resolve it once) and
publishes `system.alert_resolved`. Messages go after commit; a send Apprise did not
accept is tried again by the next evaluation (`raised_sent`, `resolved_sent`).

A rule that cannot be evaluated (its query failed) is skipped for that evaluation: its
open alerts stay open, and the error is logged and returned."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

import apprise
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

import events
from ops import payloads
from ops.metrics import ALERTS_SENT
from ops.models import Alert
from ops.rules import RULES

logger = logging.getLogger(__name__)

RESEND_WITHIN = timedelta(days=1)  # resolved messages not yet sent are retried this long


@dataclass
class Evaluation:
    raised: list[Alert] = field(default_factory=list)
    resolved: list[Alert] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # rule -> what went wrong


def evaluate(rules: dict | None = None) -> Evaluation:
    """Evaluate every rule once; raise, resolve and send what changed."""
    outcome = Evaluation()
    for rule, find in (rules or RULES).items():
        try:
            failing = find()
        except Exception as exc:
            logger.exception("alerts: rule %s could not be evaluated", rule)
            outcome.errors[rule] = f"{type(exc).__name__}: {exc}"
            continue
        outcome.raised += [raise_alert(rule, key, *failing[key]) for key in failing]
        still_open = Alert.objects.filter(rule=rule, state=Alert.OPEN).exclude(key__in=failing)
        outcome.resolved += [a for a in still_open if resolve_alert(a)]
    outcome.raised = [alert for alert in outcome.raised if alert is not None]
    send_pending()
    return outcome


def raise_alert(rule: str, key: str, title: str, body: str) -> Alert | None:
    """Open an alert for `key` unless one is open; returns the new alert, or None."""
    if Alert.objects.filter(key=key, state=Alert.OPEN).exists():
        return None
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                key=key, rule=rule, title=title[:200], body=body, raised_at=timezone.now()
            )
            events.publish(
                "system.alert_raised",
                payloads.alert_raised(
                    alert_id=alert.pk,
                    key=key,
                    rule=rule,
                    title=alert.title,
                    body=body,
                    raised_at=alert.raised_at,
                ),
            )
    except IntegrityError:  # another evaluator opened it first
        return None
    return alert


def resolve_alert(alert: Alert) -> bool:
    """Resolve `alert` if it is still open; True if this call did."""
    now = timezone.now()
    with transaction.atomic():
        claimed = Alert.objects.filter(pk=alert.pk, state=Alert.OPEN).update(
            state=Alert.RESOLVED, resolved_at=now
        )
        if claimed != 1:
            return False
        events.publish(
            "system.alert_resolved",
            payloads.alert_resolved(
                alert_id=alert.pk,
                key=alert.key,
                rule=alert.rule,
                title=alert.title,
                raised_at=alert.raised_at,
                resolved_at=now,
            ),
        )
    alert.state, alert.resolved_at = Alert.RESOLVED, now
    return True


def send_pending() -> None:
    """Send every message not yet accepted: raised for open alerts, resolved for alerts
    resolved within RESEND_WITHIN (without ALERT_URLS nothing is sent, nothing marked)."""
    if not settings.ALERT_URLS:
        return
    for alert in Alert.objects.filter(state=Alert.OPEN, raised_sent=False).order_by("pk"):
        if notify(f"Concord: {alert.title}", alert.body, apprise.NotifyType.FAILURE, "raised"):
            Alert.objects.filter(pk=alert.pk).update(raised_sent=True)
    recent = timezone.now() - RESEND_WITHIN
    resolved = Alert.objects.filter(
        state=Alert.RESOLVED, resolved_sent=False, resolved_at__gte=recent
    ).order_by("pk")
    for alert in resolved:
        body = f"{alert.key} cleared (raised {alert.raised_at:%Y-%m-%d %H:%M:%S} UTC)"
        if notify(f"Concord resolved: {alert.title}", body, apprise.NotifyType.SUCCESS, "resolved"):
            Alert.objects.filter(pk=alert.pk).update(resolved_sent=True)


def notify(title: str, body: str, kind, label: str) -> bool:
    """One message to every ALERT_URLS service; True if every one accepted it."""
    sender = apprise.Apprise()
    for url in settings.ALERT_URLS:
        sender.add(url)
    try:
        accepted = bool(sender.notify(title=title, body=body, notify_type=kind))
    except Exception:
        logger.exception("alerts: sending %r failed", title)
        accepted = False
    ALERTS_SENT.labels(label, "sent" if accepted else "failed").inc()
    if not accepted:
        logger.warning("alerts: %r was not accepted by every service; retried next time", title)
    return accepted
