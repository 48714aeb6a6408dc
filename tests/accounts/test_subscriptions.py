"""Subscriptions expire on time, renew and change tier atomically, and premium is one
rule: what reads say, what beat stores and what the database allows agree."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import actions
from accounts.exceptions import (
    InvalidSubscription,
    SubscriptionAlreadyActive,
    SubscriptionNotActive,
)
from accounts.integrity import subscriptions_expired_on_time
from accounts.models import Member, Subscription, SubscriptionStatus
from accounts.premium import is_premium
from accounts.tasks import expire_subscriptions_task
from events.models import Event
from tests.factories import MemberFactory
from tests.helpers import refused, refused_writing_nothing

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def lapsed(member, *, tier="premium", ago=timedelta(hours=1)) -> Subscription:
    """An active subscription whose expiry passed `ago` (started before it)."""
    now = timezone.now()
    return actions.start_subscription(
        member, tier=tier, starts_at=now - ago - DAY, expires_at=now - ago
    )


def kinds(member) -> list[str]:
    return list(
        Event.objects.filter(subject=f"member:{member.pk}", kind__startswith="subscription.")
        .order_by("seq")
        .values_list("kind", flat=True)
    )


# --- Expiry ------------------------------------------------------------------------------


def test_a_subscription_past_its_expiry_is_not_premium_before_beat_stores_it(alice):
    sub = lapsed(alice)
    assert Subscription.objects.get(pk=sub.pk).status == SubscriptionStatus.ACTIVE
    assert not is_premium(alice)
    assert not alice.is_premium
    assert not Subscription.objects.current(timezone.now()).filter(pk=sub.pk).exists()
    assert not Member.objects.premium_subscribers(timezone.now()).filter(pk=alice.pk).exists()


def test_expire_subscriptions_stores_lapsed_ones_as_expired_at_their_expiry(alice, bob):
    old = lapsed(alice)
    later = actions.start_subscription(bob, tier="basic", expires_at=timezone.now() + DAY)
    assert actions.expire_subscriptions() == 1
    old.refresh_from_db()
    assert (old.status, old.ended_at) == (SubscriptionStatus.EXPIRED, old.expires_at)
    assert Subscription.objects.get(pk=later.pk).status == SubscriptionStatus.ACTIVE
    event = Event.objects.get(kind="subscription.expired")
    assert event.data["subscription_id"] == old.pk
    assert event.subject == f"member:{alice.pk}"
    assert actions.expire_subscriptions() == 0  # nothing left: a second run writes nothing


def test_beat_runs_the_expiry_task(alice):
    entry = settings.CELERY_BEAT_SCHEDULE["expire-subscriptions"]
    assert entry["task"] == "accounts.tasks.expire_subscriptions"
    assert entry["schedule"] == settings.EXPIRE_SUBSCRIPTIONS_EVERY_SECONDS
    sub = lapsed(alice)
    assert expire_subscriptions_task.apply().get() == 1
    assert Subscription.objects.get(pk=sub.pk).status == SubscriptionStatus.EXPIRED


def test_expiry_goes_in_batches_and_the_task_runs_until_none_is_left(db):
    for _ in range(3):
        lapsed(MemberFactory())
    assert actions.expire_subscriptions(batch=2) == 2
    lapsed(MemberFactory())
    assert expire_subscriptions_task(batch=1) == 2
    assert not Subscription.objects.filter(status="active").exists()


def test_a_lapsed_subscription_does_not_block_a_new_one(alice):
    old = lapsed(alice)
    new = actions.start_subscription(alice, tier="professional")
    old.refresh_from_db()
    assert old.status == SubscriptionStatus.EXPIRED
    assert new.status == SubscriptionStatus.ACTIVE
    assert kinds(alice) == ["subscription.started", "subscription.expired", "subscription.started"]
    assert is_premium(alice)


def test_a_current_subscription_blocks_a_new_one_and_nothing_is_written(alice):
    actions.start_subscription(alice, tier="basic", expires_at=timezone.now() + DAY)
    refused_writing_nothing(
        SubscriptionAlreadyActive, lambda: actions.start_subscription(alice, tier="premium")
    )


def test_cancelling_ends_now_and_cancelling_a_lapsed_one_expires_it(alice, bob):
    sub = actions.cancel_subscription(actions.start_subscription(alice, tier="premium"))
    assert sub.status == SubscriptionStatus.CANCELLED
    assert sub.ended_at is not None
    gone = actions.cancel_subscription(lapsed(bob))
    assert (gone.status, gone.ended_at) == (SubscriptionStatus.EXPIRED, gone.expires_at)


# --- Renewal and tier changes ------------------------------------------------------------


def test_renewing_extends_by_a_period_or_to_an_expiry(alice):
    expiry = timezone.now() + DAY
    sub = actions.start_subscription(alice, tier="premium", expires_at=expiry)
    renewed = actions.renew_subscription(sub, period=timedelta(days=30))
    assert renewed.expires_at == expiry + timedelta(days=30)
    again = actions.renew_subscription(sub, expires_at=expiry + timedelta(days=60))
    assert again.expires_at == expiry + timedelta(days=60)
    event = Event.objects.filter(kind="subscription.renewed").latest("seq")
    assert event.data["subscription_id"] == sub.pk
    assert kinds(alice) == ["subscription.started", *["subscription.renewed"] * 2]


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("lapsed", SubscriptionNotActive),
        ("cancelled", SubscriptionNotActive),
        ("no expiry", InvalidSubscription),
        ("earlier", InvalidSubscription),
        ("negative period", InvalidSubscription),
    ],
)
def test_renewal_refusals_write_nothing(alice, case, error):
    now = timezone.now()
    if case == "lapsed":
        sub = lapsed(alice)
    elif case == "no expiry":
        sub = actions.start_subscription(alice, tier="premium")
    else:
        sub = actions.start_subscription(alice, tier="premium", expires_at=now + DAY)
    if case == "cancelled":
        actions.cancel_subscription(sub)
    arguments = {
        "earlier": {"expires_at": now + timedelta(hours=1)},
        "negative period": {"period": -DAY},
    }.get(case, {"period": DAY})
    refused_writing_nothing(error, lambda: actions.renew_subscription(sub, **arguments))


def test_changing_tier_ends_the_old_and_starts_the_new_with_one_event(alice):
    expiry = timezone.now() + 10 * DAY
    basic = actions.start_subscription(alice, tier="basic", expires_at=expiry)
    assert not is_premium(alice)
    premium = actions.change_tier(basic, tier="premium")
    basic.refresh_from_db()
    assert basic.status == SubscriptionStatus.REPLACED
    assert basic.ended_at is not None
    assert (premium.tier, premium.status, premium.expires_at) == ("premium", "active", expiry)
    assert premium.starts_at == basic.ended_at
    assert is_premium(alice)
    assert kinds(alice) == ["subscription.started", "subscription.tier_changed"]
    data = Event.objects.get(kind="subscription.tier_changed").data
    assert (data["replaced_subscription_id"], data["subscription_id"]) == (basic.pk, premium.pk)
    assert (data["old_tier"], data["tier"]) == ("basic", "premium")


@pytest.mark.parametrize("case", ["same tier", "unknown tier", "lapsed", "replaced"])
def test_tier_change_refusals_write_nothing(alice, case):
    sub = lapsed(alice) if case == "lapsed" else actions.start_subscription(alice, tier="basic")
    if case == "replaced":
        actions.change_tier(sub, tier="premium")
    tier = {"same tier": "basic", "unknown tier": "gold"}.get(case, "professional")
    error = InvalidSubscription if case in ("same tier", "unknown tier") else SubscriptionNotActive
    refused_writing_nothing(error, lambda: actions.change_tier(sub, tier=tier))


def test_premium_is_read_in_one_query(alice):
    from django.db import connection

    actions.start_subscription(alice, tier="premium")
    with CaptureQueriesContext(connection) as queries:
        assert alice.is_premium
    assert len(queries) == 1


# --- The database's rules ------------------------------------------------------------------


def test_an_ended_subscription_records_when(alice):
    sub = actions.start_subscription(alice, tier="basic")
    refused(
        "UPDATE accounts_subscription SET status = 'cancelled' WHERE id = %s",
        [sub.pk],
        constraint="accounts_subscription_ended_iff_not_active",
    )
    refused(
        "UPDATE accounts_subscription SET ended_at = CURRENT_TIMESTAMP WHERE id = %s",
        [sub.pk],
        constraint="accounts_subscription_ended_iff_not_active",
    )


def test_expired_means_ended_at_the_expiry(alice):
    sub = lapsed(alice)
    refused(
        "UPDATE accounts_subscription SET status = 'expired', ended_at = CURRENT_TIMESTAMP"
        " WHERE id = %s",
        [sub.pk],
        constraint="accounts_subscription_expired_at_expiry",
    )
    no_expiry = actions.start_subscription(
        Member.objects.exclude(pk=alice.pk).first() or alice, tier="basic"
    )
    refused(
        "UPDATE accounts_subscription SET status = 'expired', ended_at = CURRENT_TIMESTAMP"
        " WHERE id = %s",
        [no_expiry.pk],
        constraint="accounts_subscription_expired_at_expiry",
        checks_only=True,
    )


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("expire early", "cannot expire before"),
        ("reopen", "it is history"),
        ("change tier in place", "member, tier and start are fixed"),
        ("shorten", "a renewal only moves the expiry later"),
        ("born ended", "a subscription starts active"),
    ],
)
def test_the_database_holds_the_subscription_transitions(alice, case, says):
    sub = actions.start_subscription(alice, tier="basic", expires_at=timezone.now() + DAY)
    statement = {
        "expire early": "UPDATE accounts_subscription SET status = 'expired',"
        " ended_at = expires_at WHERE id = %s",
        "reopen": "UPDATE accounts_subscription SET status = 'active', ended_at = NULL"
        " WHERE id = %s",
        "change tier in place": "UPDATE accounts_subscription SET tier = 'premium' WHERE id = %s",
        "shorten": "UPDATE accounts_subscription SET expires_at = expires_at - interval '1 hour'"
        " WHERE id = %s",
        "born ended": "INSERT INTO accounts_subscription (member_id, tier, status, starts_at,"
        " created_at, ended_at) SELECT member_id, 'basic', 'cancelled', starts_at, created_at,"
        " starts_at FROM accounts_subscription WHERE id = %s",
    }[case]
    if case == "reopen":
        actions.cancel_subscription(sub)
    refused(statement, [sub.pk], constraint=says)


# --- Integrity -----------------------------------------------------------------------------


def test_integrity_flags_an_active_subscription_past_expiry_beyond_the_grace(alice, bob):
    grace = timedelta(seconds=2 * settings.EXPIRE_SUBSCRIPTIONS_EVERY_SECONDS)
    within = lapsed(alice, ago=grace / 2)
    beyond = lapsed(bob, ago=grace + timedelta(minutes=1))
    assert subscriptions_expired_on_time().sample == [beyond.pk]
    actions.expire_subscriptions()
    assert subscriptions_expired_on_time().sample == []
    assert Subscription.objects.get(pk=within.pk).status == SubscriptionStatus.EXPIRED
