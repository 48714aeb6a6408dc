"""Accounts' rules as SQL fragments, for the statements other apps write by hand.

Each says what a queryset method in `accounts.models` says; a test holds the two to the
same answers on both backends (tests/accounts/test_premium.py)."""

from __future__ import annotations

from accounts.models import PREMIUM_TIERS, SubscriptionStatus

_TIERS = ", ".join(f"'{tier.value}'" for tier in PREMIUM_TIERS)

# `{member}` (an SQL expression: a member's id) is a premium subscriber at `{now}` (a
# parameter: the moment, as the backend stores it): `Subscription.objects.premium(now)`.
# Fill both with `str.format`; SQLite and PostgreSQL read it alike.
PREMIUM_SUBSCRIBER = (
    "EXISTS (SELECT 1 FROM accounts_subscription s WHERE s.member_id = {member}"
    f" AND s.status = '{SubscriptionStatus.ACTIVE.value}' AND s.tier IN ({_TIERS})"
    " AND s.starts_at <= {now} AND (s.expires_at IS NULL OR s.expires_at > {now}))"
)
