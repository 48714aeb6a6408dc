"""The admin changes members only through the actions (so every change is an event)."""

from __future__ import annotations

import re

import pytest

from accounts.models import Member
from events.models import Event

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


def test_adding_a_member_in_admin_registers_them(admin_client, staff, alice):
    response = admin_client.post(
        "/admin/accounts/member/add/",
        {
            "platform": "discord",
            "external_id": "555",
            "username": "dora",
            "new_email": "Dora@Example.org",
            "referrer_code": alice.referral_code,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    member = Member.objects.by_identity("discord", "555")
    assert member.email_normalized == "dora@example.org"
    assert member.referred_by == alice
    assert member.profile is not None
    event = Event.objects.filter(kind="member.registered", subject=f"member:{member.pk}").get()
    assert event.actor_id == staff.pk


def test_admin_add_form_shows_the_actions_errors_and_writes_nothing(admin_client, alice):
    members = Member.objects.count()
    response = admin_client.post(
        "/admin/accounts/member/add/",
        {"platform": "web", "external_id": "z", "new_email": "aliceliddell+x@googlemail.com"},
    )
    assert response.status_code == 200
    assert "is already registered" in response.content.decode()
    response = admin_client.post(
        "/admin/accounts/member/add/",
        {"platform": "web", "external_id": "z", "referrer_code": "NOPE2345"},
    )
    assert "no member has referral code" in response.content.decode()
    assert Member.objects.count() == members


def hidden_inputs(page: str) -> dict[str, str]:
    """The hidden fields (inline management forms, ids) a browser would post back."""
    return {
        name: value
        for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)
        if name != "csrfmiddlewaretoken"
    }


def test_editing_a_member_in_admin_goes_through_update_member(admin_client, staff, alice):
    url = f"/admin/accounts/member/{alice.pk}/change/"
    form = hidden_inputs(admin_client.get(url).content.decode())
    form.update(
        {
            "display_name": "Alice in Wonderland",
            "language": "de",
            "is_active": "on",
            "email": alice.email,
        }
    )
    response = admin_client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:3000]
    alice.refresh_from_db()
    assert (alice.display_name, alice.language) == ("Alice in Wonderland", "de")
    event = Event.objects.filter(kind="member.updated").get()
    assert event.data["changed"] == {"display_name": "Alice in Wonderland", "language": "de"}
    assert event.actor_id == staff.pk


@pytest.mark.parametrize("term", ["alice", "1001", "aliceliddell@gmail", "Alice.Liddell"])
def test_member_search_finds_by_name_username_external_id_and_email(admin_client, alice, bob, term):
    response = admin_client.get("/admin/accounts/member/", {"q": term})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [alice]


def test_member_page_shows_identities_profile_and_subscriptions(admin_client, alice):
    response = admin_client.get(f"/admin/accounts/member/{alice.pk}/change/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "1001" in page  # the identity
    assert "Onboarding completed" in page  # the profile
    assert "Subscriptions" in page


def test_starting_a_subscription_in_admin_publishes_it(admin_client, alice):
    response = admin_client.post(
        "/admin/accounts/subscription/add/",
        {
            "member": alice.pk,
            "tier": "premium",
            "starts_at_0": "2026-01-01",
            "starts_at_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Event.objects.filter(kind="subscription.started").count() == 1
    again = admin_client.post(
        "/admin/accounts/subscription/add/",
        {
            "member": alice.pk,
            "tier": "basic",
            "starts_at_0": "2026-02-01",
            "starts_at_1": "00:00:00",
        },
    )
    assert again.status_code == 200
    assert "already has an active subscription" in again.content.decode()


def test_a_display_name_with_a_bidi_override_is_a_form_error_not_a_500(admin_client, alice):
    url = f"/admin/accounts/member/{alice.pk}/change/"
    form = hidden_inputs(admin_client.get(url).content.decode())
    form.update({"display_name": "evil\u202egnp.exe", "language": "en", "is_active": "on"})
    form["email"] = alice.email
    response = admin_client.post(url, form)
    assert response.status_code == 200
    assert "RIGHT-TO-LEFT OVERRIDE" in response.content.decode()
    alice.refresh_from_db()
    assert "\u202e" not in alice.display_name
