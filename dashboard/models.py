from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.db import models
from django.db.models import Q

from dashboard.scopes import SQL_PATTERN

SIGNING_SALT = "concord.overlay-token"


class OverlayToken(models.Model):
    """A signed, revocable, read-only grant to one stream scope, for an overlay URL.

    The token string is `<key>:<signature>`: the random `key` names this row and the
    signature (Django's signing, with the secret key) lets a forged or mistyped token be
    refused before the database is asked. Revoking sets `revoked_at`; connected overlays
    on the token are closed."""

    key = models.CharField(max_length=32, unique=True, editable=False)
    scope = models.CharField(max_length=60)
    label = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        permissions = [
            ("view_dashboard", "Can open the live dashboard"),
            ("manage_overlays", "Can create, revoke and reload overlay links"),
        ]
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(scope__regex=SQL_PATTERN), name="dashboard_overlaytoken_scope_valid"
            ),
            models.CheckConstraint(
                condition=Q(key__regex=r"^[A-Za-z0-9_-]{16,32}$"),
                name="dashboard_overlaytoken_key_format",
            ),
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True) | Q(revoked_at__gte=models.F("created_at")),
                name="dashboard_overlaytoken_revoked_after_created",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope} overlay {self.label or self.key[:6]}"

    @property
    def token(self) -> str:
        return signing.Signer(salt=SIGNING_SALT).sign(self.key)

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def page(self) -> str:
        """Which overlay page this token's scope shows: leaderboard, ticker or tournament."""
        if self.scope.startswith("tournament:"):
            return "tournament"
        return "ticker" if self.scope in {"ticker", "events"} else "leaderboard"

    @property
    def path(self) -> str:
        """The overlay page for this token's scope."""
        return f"/overlays/{self.token}/{self.page}/"
