"""API keys, the stored answers of idempotent requests, and webhooks (endpoints, their
deliveries and each delivery's attempts).

A key is `cnc_<prefix>_<secret>`: the prefix (8 characters, shown in listings and logs)
finds the row, the secret is checked against its SHA-256. The secret holds 192 random
bits, so a fast hash is enough (a slow one defends guessable passwords, which these are
not) and keeps every request's check cheap."""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import F, Q

from api.sql import statement
from dashboard.scopes import SQL_PATTERN as SCOPE_SQL_PATTERN
from events.sql import refuse

# Every scope a key may hold (`api.scopes` says what each allows).
SCOPES = (
    "members:read",
    "members:write",
    "ledger:read",
    "ledger:write",
    "tournaments:read",
    "tournaments:write",
    "stories:read",
    "stories:write",
    "events:read",
    "webhooks:manage",
)
PREFIX_PATTERN = r"^[a-z0-9]{8}$"
HASH_PATTERN = r"^[0-9a-f]{64}$"


class ApiKey(models.Model):
    """A bot's credential: hashed, scoped, expiring, revocable, acting as `actor`."""

    label = models.CharField(max_length=100)
    prefix = models.CharField(max_length=8, unique=True)
    secret_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_keys"
    )
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # Set on the old key by `rotate`: the key that replaced it.
    replaced_by = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaces"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("manage_api_keys", "Can create, rotate and revoke API keys")]
        constraints = [
            models.CheckConstraint(condition=~Q(label=""), name="api_apikey_label_not_blank"),
            models.CheckConstraint(
                condition=Q(prefix__regex=PREFIX_PATTERN), name="api_apikey_prefix_format"
            ),
            models.CheckConstraint(
                condition=Q(secret_hash__regex=HASH_PATTERN), name="api_apikey_hash_format"
            ),
            models.CheckConstraint(
                condition=Q(expires_at__isnull=True) | Q(expires_at__gt=F("created_at")),
                name="api_apikey_expires_after_created",
            ),
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True) | Q(revoked_at__gte=F("created_at")),
                name="api_apikey_revoked_after_created",
            ),
            models.CheckConstraint(
                condition=~Q(replaced_by=F("id")), name="api_apikey_not_replaced_by_itself"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.prefix})"


class IdempotentRequest(models.Model):
    """The first answer to a request sent with an `Idempotency-Key`, per API key.

    The row is inserted before the request's work, in the same transaction: a concurrent
    request with the same key waits on the unique index until that transaction ends, then
    finds the stored answer (or, if it rolled back, does the work itself)."""

    # No index of its own: the unique (api_key, key) index leads with it and serves its
    # lookups; a second one only cost every request an insert (docs/benchmarks/
    # 2026-12-07-uwsgi.md).
    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=300)
    request_hash = models.CharField(max_length=64)
    request_body = models.JSONField()
    status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["api_key", "key"], name="api_idempotentrequest_once"),
            models.CheckConstraint(
                condition=~Q(key=""), name="api_idempotentrequest_key_not_blank"
            ),
            models.CheckConstraint(
                condition=Q(status__gte=100, status__lte=599),
                name="api_idempotentrequest_status_valid",
            ),
        ]
        # Used by api.idempotency.purge (older than the retention).
        indexes = [models.Index(fields=["created_at"], name="api_idempotent_created_idx")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.key})"


# --- webhooks (api.delivery sends them; docs/API.md, "Webhooks") -------------------------

# Standard Webhooks secret: `whsec_` and the base64 of 24 to 64 random bytes.
WEBHOOK_SECRET_PATTERN = r"^whsec_[A-Za-z0-9+/]{32,88}={0,2}$"
WEBHOOK_URL_PATTERN = r"^https?://\S+$"
DELIVERY_STATUSES = ("pending", "delivered", "failed")


class WebhookEndpoint(models.Model):
    """Where a key's bot receives events: a URL, its signing secret, the stream scope and
    kinds it wants. `position` is the seq up to which deliveries have been queued (in seq
    order, `api.delivery.enqueue`); `leased_until` marks the one sender working on it."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="webhooks")
    url = models.CharField(max_length=2000)
    secret = models.CharField(max_length=100)  # needed to sign: stored as is, shown once
    scope = models.CharField(max_length=60, default="events")
    kinds = models.JSONField(default=list, blank=True)  # empty: every public kind in scope
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    position = models.BigIntegerField(default=0)
    leased_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(url__regex=WEBHOOK_URL_PATTERN), name="api_webhookendpoint_url_http"
            ),
            models.CheckConstraint(
                condition=Q(secret__regex=WEBHOOK_SECRET_PATTERN),
                name="api_webhookendpoint_secret_format",
            ),
            models.CheckConstraint(
                condition=Q(scope__regex=SCOPE_SQL_PATTERN), name="api_webhookendpoint_scope_format"
            ),
            models.CheckConstraint(
                condition=Q(position__gte=0), name="api_webhookendpoint_position_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(enabled=True) | ~Q(disabled_reason=""),
                name="api_webhookendpoint_disabled_has_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"webhook {self.pk} -> {self.url}"


class WebhookDelivery(models.Model):
    """One event for one endpoint: its message (the event's public projection, fixed when
    queued) and where it stands. An endpoint gets them in seq order: the lowest pending
    one is the only one sent (`api.delivery`)."""

    PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"

    # No index of its own: the unique (endpoint, seq) index leads with it.
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    seq = models.BigIntegerField()
    kind = models.CharField(max_length=64)
    body = models.JSONField()
    status = models.CharField(max_length=10, default=PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # `attempts` when this round began (a redelivery starts a new one): the back-off
    # counts the failures since.
    round_start = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["endpoint", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "seq"], name="api_webhookdelivery_once"),
            models.CheckConstraint(condition=Q(seq__gt=0), name="api_webhookdelivery_seq_positive"),
            models.CheckConstraint(
                condition=Q(status__in=DELIVERY_STATUSES), name="api_webhookdelivery_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(status="pending", next_attempt_at__isnull=False)
                | (~Q(status="pending") & Q(next_attempt_at__isnull=True)),
                name="api_webhookdelivery_due_iff_pending",
            ),
            models.CheckConstraint(
                condition=~Q(status="delivered") | Q(delivered_at__isnull=False),
                name="api_webhookdelivery_delivered_has_time",
            ),
            models.CheckConstraint(
                condition=Q(round_start__lte=F("attempts")),
                name="api_webhookdelivery_round_within_attempts",
            ),
        ]
        triggers = [
            pgtrigger.Trigger(
                name="api_webhookdelivery_delivered_has_success",
                when=pgtrigger.After,
                operation=pgtrigger.Insert | pgtrigger.Update,
                timing=pgtrigger.Deferred,
                condition=pgtrigger.Q(new__status="delivered"),
                func=statement("webhook_delivered_has_success"),
            ),
        ]
        indexes = [
            # api.delivery: an endpoint's head (lowest pending seq) and what is due.
            models.Index(
                fields=["endpoint", "seq"],
                condition=Q(status="pending"),
                name="api_webhookdelivery_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"delivery of #{self.seq} to webhook {self.endpoint_id} ({self.status})"

    @property
    def message_id(self) -> str:
        """The `webhook-id` header: the same for every attempt (receivers drop repeats)."""
        return f"msg_{self.endpoint_id}_{self.seq}"


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery, as the delivery log shows it."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveIntegerField()
    at = models.DateTimeField()
    ok = models.BooleanField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField()

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="api_webhookattempt_once"),
            models.CheckConstraint(
                condition=Q(number__gte=1), name="api_webhookattempt_number_positive"
            ),
            models.CheckConstraint(
                condition=Q(status_code__isnull=True)
                | Q(status_code__gte=100, status_code__lte=599),
                name="api_webhookattempt_status_code_valid",
            ),
            models.CheckConstraint(
                condition=Q(ok=False) | Q(status_code__gte=200, status_code__lte=299),
                name="api_webhookattempt_ok_is_2xx",
            ),
            models.CheckConstraint(
                condition=Q(ok=True) | Q(status_code__isnull=False) | ~Q(error=""),
                name="api_webhookattempt_failure_explained",
            ),
        ]
        triggers = [
            # The delivery log is never rewritten (deleting an endpoint deletes its log).
            pgtrigger.Trigger(
                name="api_webhookattempt_not_updated",
                when=pgtrigger.Before,
                operation=pgtrigger.Update,
                func=refuse("webhook attempts are never changed: attempt % refused", "OLD.id"),
            ),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}"
