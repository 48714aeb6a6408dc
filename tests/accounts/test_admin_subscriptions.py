"""The admin reads premium from the one rule and changes subscriptions only through the
actions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import actions
from accounts.models import Subscription
from events.models import Event

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


def test_the_member_list_filters_by_premium_now(admin_client, alice, bob):
    actions.start_subscription(alice, tier="premium")
    now = timezone.now()
    actions.start_subscription(bob, tier="premium", starts_at=now - timedelta(2), expires_at=now)
    premium = admin_client.get("/admin/accounts/member/", {"premium": "yes"}).content.decode()
    assert f"/admin/accounts/member/{alice.pk}/change/" in premium
    assert f"/admin/accounts/member/{bob.pk}/change/" not in premium
    others = admin_client.get("/admin/accounts/member/", {"premium": "no"}).content.decode()
    assert f"/admin/accounts/member/{bob.pk}/change/" in others


def test_renewing_in_admin_goes_through_the_action(admin_client, alice, bob):
    expiry = timezone.now() + timedelta(days=1)
    sub = actions.start_subscription(alice, tier="premium", expires_at=expiry)
    forever = actions.start_subscription(bob, tier="basic")
    response = admin_client.post(
        "/admin/accounts/subscription/",
        {"action": "renew_month", "_selected_action": [sub.pk, forever.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert Subscription.objects.get(pk=sub.pk).expires_at == expiry + timedelta(days=30)
    assert Event.objects.filter(kind="subscription.renewed").count() == 1
    assert "never expires" in response.content.decode()


def test_a_lapsed_subscription_does_not_block_starting_one_in_admin(admin_client, alice):
    now = timezone.now()
    actions.start_subscription(alice, tier="basic", starts_at=now - timedelta(2), expires_at=now)
    response = admin_client.post(
        "/admin/accounts/subscription/add/",
        {"member": alice.pk, "tier": "premium", "starts_at_0": "2026-01-01", "starts_at_1": "0:0"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert alice.is_premium
