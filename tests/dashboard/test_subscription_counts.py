"""The members page counts current subscriptions by tier and those expiring within 7
days; a member's page says their subscription and when they were last active."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import actions
from accounts.queries import subscription_counts
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def subscribed(db):
    now = timezone.now()
    soon, later = now + timedelta(days=3), now + timedelta(days=30)
    members = [MemberFactory() for _ in range(6)]
    actions.start_subscription(members[0], tier="basic", expires_at=soon)
    actions.start_subscription(members[1], tier="premium", expires_at=soon)
    actions.start_subscription(members[2], tier="premium", expires_at=later)
    actions.start_subscription(members[3], tier="professional")  # no expiry
    # Past its expiry, not yet stored as expired: not counted.
    actions.start_subscription(
        members[4], tier="premium", starts_at=now - timedelta(days=2), expires_at=now
    )
    actions.cancel_subscription(actions.start_subscription(members[5], tier="basic"))
    return members


def test_current_subscriptions_by_tier_and_expiring_within_a_week(subscribed):
    counts = subscription_counts(timezone.now())
    assert counts == {
        "by_tier": {"basic": 1, "premium": 2, "professional": 1},
        "active": 4,
        "expiring_7_days": 2,
    }


def test_the_members_page_shows_the_counts(staff_client, subscribed):
    body = staff_client.get("/dashboard/members/").content.decode()
    assert 'data-counter="subscriptions:premium">2<' in body
    assert 'data-counter="subscriptions:basic">1<' in body
    assert 'data-counter="subscriptions:expiring">2<' in body


def test_a_members_page_shows_their_subscription_and_activity(staff_client, subscribed):
    body = staff_client.get(f"/dashboard/members/{subscribed[2].pk}/").content.decode()
    assert "premium</span> subscription · premium until" in body
    assert "active <time" in body
    lapsed = staff_client.get(f"/dashboard/members/{subscribed[4].pk}/").content.decode()
    assert "no subscription" in lapsed
