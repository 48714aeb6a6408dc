"""Subscriptions: start, renew, change tier, cancel, and expire on time.

A subscription is `active` until it ends once: `cancelled`, `expired` (at its
`expires_at`; `ended_at` records when) or `replaced` (by `change_tier`). Reads treat an
`active` row past its expiry as expired already (`SubscriptionQuerySet.current`,
`accounts.premium`); `expire_subscriptions` (Celery beat, every
`EXPIRE_SUBSCRIPTIONS_EVERY_SECONDS`) stores it so, and so does the next write on the
member (`start_subscription`), so a lapsed row never blocks a new one.

Locks: the member row (`FOR NO KEY UPDATE`) first, then its subscription rows; expiry
locks subscription rows only, skipping locked ones (a renewal in hand wins; the next run
looks again). The database holds the transitions (PostgreSQL trigger
`accounts_subscription_legal_transition`) and the constraints `accounts_subscription_*`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

import events
from accounts import payloads
from accounts.exceptions import (
    InvalidSubscription,
    SubscriptionAlreadyActive,
    SubscriptionNotActive,
)
from accounts.models import Member, Subscription, SubscriptionStatus, Tier

EXPIRE_BATCH = 500


def _check_tier(tier: str) -> None:
    if tier not in Tier.values:
        raise InvalidSubscription(
            f"unknown tier {tier!r} (expected one of {', '.join(Tier.values)})"
        )


def _lock_member(member_id: int) -> None:
    # NO KEY: registrations referred by this member only need FOR KEY SHARE on it.
    Member.objects.select_for_update(no_key=True).filter(pk=member_id).first()


def _publish(kind: str, data, *, member_id: int, actor) -> None:
    events.publish(kind, data, actor=actor, subject=f"member:{member_id}")


def _expire(rows: list[Subscription], *, actor=None) -> int:
    """Store `rows` (locked, active, past expiry) as expired at their expiry."""
    if not rows:
        return 0
    Subscription.objects.filter(pk__in=[row.pk for row in rows]).update(
        status=SubscriptionStatus.EXPIRED, ended_at=F("expires_at")
    )
    for row in rows:
        _publish(
            "subscription.expired",
            payloads.subscription_expired(
                member_id=row.member_id,
                subscription_id=row.pk,
                tier=row.tier,
                expired_at=row.expires_at,
            ),
            member_id=row.member_id,
            actor=actor,
        )
    return len(rows)


@transaction.atomic
def expire_subscriptions(*, now: datetime | None = None, batch: int = EXPIRE_BATCH) -> int:
    """Move up to `batch` active subscriptions past their expiry at `now` to `expired`
    (one `subscription.expired` event each); returns how many. Rows another transaction
    holds (a renewal, a cancellation) are skipped: the next run sees what it left."""
    now = now or timezone.now()
    rows = list(
        Subscription.objects.lapsed(now).select_for_update(skip_locked=True).order_by("pk")[:batch]
    )
    return _expire(rows)


def _lapsed_of(member_id: int, now: datetime) -> list[Subscription]:
    return list(Subscription.objects.lapsed(now).filter(member_id=member_id).select_for_update())


@transaction.atomic
def start_subscription(
    member: Member,
    *,
    tier: str,
    starts_at: datetime | None = None,
    expires_at: datetime | None = None,
    actor=None,
) -> Subscription:
    """Start a subscription. A member has at most one active: a current one refuses
    (`SubscriptionAlreadyActive`: renew, change tier or cancel it); one past its expiry is
    expired first, in this transaction (its `subscription.expired` event included)."""
    _check_tier(tier)
    now = timezone.now()
    starts_at = starts_at or now
    if expires_at is not None and expires_at <= starts_at:
        raise InvalidSubscription("a subscription must expire after it starts")
    # Lock the member: two concurrent starts queue here instead of racing to the constraint.
    _lock_member(member.pk)
    if Subscription.objects.current(now).filter(member=member).exists():
        raise SubscriptionAlreadyActive(f"{member} already has an active subscription")
    _expire(_lapsed_of(member.pk, now), actor=actor)
    subscription = Subscription.objects.create(
        member=member, tier=tier, starts_at=starts_at, expires_at=expires_at
    )
    _publish(
        "subscription.started",
        payloads.subscription_started(
            member_id=member.pk,
            subscription_id=subscription.pk,
            tier=tier,
            starts_at=starts_at,
            expires_at=expires_at,
        ),
        member_id=member.pk,
        actor=actor,
    )
    return subscription


def _lock_current(subscription: Subscription, now: datetime) -> Subscription:
    """`subscription`'s row, locked after its member's, if it is current at `now`."""
    _lock_member(subscription.member_id)
    locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if locked.status != SubscriptionStatus.ACTIVE:
        raise SubscriptionNotActive(f"subscription {locked.pk} has ended ({locked.status})")
    if locked.expires_at is not None and locked.expires_at <= now:
        raise SubscriptionNotActive(
            f"subscription {locked.pk} expired at {locked.expires_at.isoformat()}; start a new one"
        )
    return locked


@transaction.atomic
def renew_subscription(
    subscription: Subscription,
    *,
    period: timedelta | None = None,
    expires_at: datetime | None = None,
    actor=None,
) -> Subscription:
    """Extend a current subscription: by `period` from its present expiry, or to
    `expires_at`. Concurrent renewals queue on the row and each extends what the one
    before left (two 30-day renewals add 60 days). Refused: an ended or lapsed
    subscription (`SubscriptionNotActive`), one without expiry, or an expiry that is not
    later (`InvalidSubscription`)."""
    if (period is None) == (expires_at is None):
        raise InvalidSubscription("renew by a period or to an expiry (one of the two)")
    if period is not None and period <= timedelta(0):
        raise InvalidSubscription("a renewal period must be positive")
    now = timezone.now()
    locked = _lock_current(subscription, now)
    if locked.expires_at is None:
        raise InvalidSubscription(f"subscription {locked.pk} never expires: nothing to renew")
    new_expiry = locked.expires_at + period if period is not None else expires_at
    if new_expiry <= locked.expires_at:
        raise InvalidSubscription(
            f"a renewal moves the expiry later than {locked.expires_at.isoformat()}"
        )
    previous = locked.expires_at
    locked.expires_at = new_expiry
    locked.save(update_fields=["expires_at"])
    _publish(
        "subscription.renewed",
        payloads.subscription_renewed(
            member_id=locked.member_id,
            subscription_id=locked.pk,
            tier=locked.tier,
            previous_expires_at=previous,
            expires_at=new_expiry,
        ),
        member_id=locked.member_id,
        actor=actor,
    )
    return locked


@transaction.atomic
def change_tier(subscription: Subscription, *, tier: str, actor=None) -> Subscription:
    """Swap a current subscription for one of `tier`, in one transaction: the old one
    ends (`replaced`, now), the new one starts now with the old one's expiry; one
    `subscription.tier_changed` event. Returns the new subscription."""
    _check_tier(tier)
    now = timezone.now()
    old = _lock_current(subscription, now)
    if old.tier == tier:
        raise InvalidSubscription(f"subscription {old.pk} is {tier} already")
    Subscription.objects.filter(pk=old.pk).update(status=SubscriptionStatus.REPLACED, ended_at=now)
    new = Subscription.objects.create(
        member_id=old.member_id, tier=tier, starts_at=now, expires_at=old.expires_at
    )
    _publish(
        "subscription.tier_changed",
        payloads.subscription_tier_changed(
            member_id=old.member_id,
            replaced_subscription_id=old.pk,
            subscription_id=new.pk,
            old_tier=old.tier,
            tier=tier,
            expires_at=new.expires_at,
        ),
        member_id=old.member_id,
        actor=actor,
    )
    return new


@transaction.atomic
def cancel_subscription(subscription: Subscription, *, actor=None) -> Subscription:
    """End an active subscription now (`cancelled`); an ended one is returned as it is.
    One past its expiry is stored as expired instead (it had ended already)."""
    now = timezone.now()
    _lock_member(subscription.member_id)
    locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if locked.status != SubscriptionStatus.ACTIVE:
        return locked
    if locked.expires_at is not None and locked.expires_at <= now:
        _expire([locked], actor=actor)
        locked.refresh_from_db()
        return locked
    locked.status = SubscriptionStatus.CANCELLED
    locked.ended_at = now
    locked.save(update_fields=["status", "ended_at"])
    _publish(
        "subscription.cancelled",
        payloads.subscription_cancelled(
            member_id=locked.member_id, subscription_id=locked.pk, tier=locked.tier
        ),
        member_id=locked.member_id,
        actor=actor,
    )
    return locked
