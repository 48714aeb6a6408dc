"""Subscriptions under concurrent writers (PostgreSQL, real processes): renewals queue and
add up; expiry and a renewal racing end in one of the two consistent states, never both."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from accounts import actions
from accounts.exceptions import AccountsError
from accounts.models import Subscription, SubscriptionStatus
from events.models import Event
from tests.factories import MemberFactory
from tests.helpers import at_once

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

MONTH = timedelta(days=30)


def _renew(job: tuple) -> tuple:
    (subscription_id,) = job
    try:
        actions.renew_subscription(Subscription.objects.get(pk=subscription_id), period=MONTH)
        return ("renewed",)
    except AccountsError as refused:
        return (type(refused).__name__,)
    finally:
        connections.close_all()


def _expire(job: tuple) -> tuple:
    try:
        return ("expired", actions.expire_subscriptions())
    finally:
        connections.close_all()


def test_concurrent_renewals_each_extend_the_subscription_once():
    expiry = timezone.now() + timedelta(days=1)
    sub = actions.start_subscription(MemberFactory(), tier="premium", expires_at=expiry)
    outcomes = at_once(_renew, [(sub.pk,)] * 4)
    assert outcomes == [("renewed",)] * 4
    sub.refresh_from_db()
    assert sub.expires_at == expiry + 4 * MONTH
    renewals = Event.objects.filter(kind="subscription.renewed").order_by("seq")
    # Each renewal extended what the one before it left: a chain, no lost update.
    chain = [(e.data["previous_expires_at"], e.data["expires_at"]) for e in renewals]
    assert len(chain) == 4
    assert all(chain[n][1] == chain[n + 1][0] for n in range(3))


@pytest.mark.parametrize("attempt", range(4))
def test_expiry_racing_a_renewal_leaves_one_consistent_outcome(attempt):
    # Expiring a moment from now: depending on who gets the row first, the renewal
    # extends it (and expiry finds nothing due) or expiry ends it (and the renewal is
    # refused). Never expired with a later expiry, never renewed after expiring.
    sub = actions.start_subscription(
        MemberFactory(),
        tier="premium",
        starts_at=timezone.now() - timedelta(days=1),
        expires_at=timezone.now() + timedelta(milliseconds=150 + 20 * attempt),
    )
    time.sleep(0.15)
    outcomes = at_once(
        lambda job: _renew(job[1:]) if job[0] == "renew" else _expire(job),
        [("renew", sub.pk), ("expire",)],
    )
    renewed = ("renewed",) in outcomes
    # Expiry may have looked a moment before the expiry and the renewal a moment after
    # (refused: lapsed); beat's next run settles that one.
    actions.expire_subscriptions()
    sub.refresh_from_db()
    kinds = set(
        Event.objects.filter(kind__startswith="subscription.").values_list("kind", flat=True)
    )
    if renewed:
        assert sub.status == SubscriptionStatus.ACTIVE
        assert sub.expires_at > timezone.now() + timedelta(days=29)
        assert kinds == {"subscription.started", "subscription.renewed"}
    else:
        assert sub.status == SubscriptionStatus.EXPIRED
        assert sub.ended_at == sub.expires_at
        assert kinds == {"subscription.started", "subscription.expired"}
        assert ("SubscriptionNotActive",) in outcomes
        assert not sub.member.is_premium
