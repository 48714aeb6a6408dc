"""API keys and the stored answers of idempotent requests.

A key is `cnc_<prefix>_<secret>`: the prefix (8 characters, shown in listings and logs)
finds the row, the secret is checked against its SHA-256. The secret holds 192 random
bits, so a fast hash is enough (a slow one defends guessable passwords, which these are
not) and keeps every request's check cheap."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

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

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+")
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
