"""Read models of accounts: what the dashboard counts about subscriptions."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Count, Q

from accounts.models import Subscription, Tier

EXPIRING_WITHIN = timedelta(days=7)


def subscription_counts(now: datetime) -> dict:
    """Current subscriptions by tier (every tier, 0 included) and how many of them expire
    within 7 days, in one query over the active rows (index
    `accounts_subscription_expiry`); lapsed rows not yet stored as expired count as
    expired already (`SubscriptionQuerySet.current`)."""
    rows = (
        Subscription.objects.current(now)
        .values("tier")
        .annotate(
            n=Count("pk"),
            expiring=Count("pk", filter=Q(expires_at__lte=now + EXPIRING_WITHIN)),
        )
    )
    by_tier = dict.fromkeys(Tier.values, 0)
    expiring = 0
    for row in rows:
        by_tier[row["tier"]] = row["n"]
        expiring += row["expiring"]
    return {"by_tier": by_tier, "active": sum(by_tier.values()), "expiring_7_days": expiring}


def current_subscription(member_id: int, now: datetime) -> Subscription | None:
    return Subscription.objects.current(now).filter(member_id=member_id).first()
