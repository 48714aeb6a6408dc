"""Webhook checks: the rules that span rows of the delivery log (a delivery's status and
attempt count against its attempts; its seq against its endpoint's position). Set-based
SQL, unchanged on PostgreSQL and SQLite."""

from __future__ import annotations

from django.db import connection

from integrity.registry import Violations, check


def _ids(sql: str) -> Violations:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return Violations.from_ids(row[0] for row in cursor.fetchall())


@check(
    "api.webhook_delivered_has_success",
    "Every delivered webhook delivery has a successful (2xx) attempt.",
)
def delivered_has_success() -> Violations:
    return _ids(
        """
        SELECT d.id FROM api_webhookdelivery d
         WHERE d.status = 'delivered'
           AND NOT EXISTS (SELECT 1 FROM api_webhookattempt a
                            WHERE a.delivery_id = d.id AND a.ok)
         ORDER BY d.id
        """
    )


@check(
    "api.webhook_attempts_counted",
    "A delivery's attempt count is its attempts, numbered 1 to n without gaps.",
)
def attempts_counted() -> Violations:
    return _ids(
        """
        SELECT d.id FROM api_webhookdelivery d
          LEFT JOIN (SELECT delivery_id, COUNT(*) AS n, MAX(number) AS top
                       FROM api_webhookattempt GROUP BY delivery_id) a ON a.delivery_id = d.id
         WHERE d.attempts <> COALESCE(a.n, 0) OR COALESCE(a.top, 0) <> COALESCE(a.n, 0)
         ORDER BY d.id
        """
    )


@check(
    "api.webhook_queued_within_position",
    "No delivery is queued above its endpoint's position (queued in seq order).",
)
def queued_within_position() -> Violations:
    return _ids(
        """
        SELECT d.id FROM api_webhookdelivery d
          JOIN api_webhookendpoint e ON e.id = d.endpoint_id
         WHERE d.seq > e.position
         ORDER BY d.id
        """
    )
