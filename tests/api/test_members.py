"""Members over HTTP: register (idempotent by identity), link, look up, update."""

from __future__ import annotations

import pytest

from accounts.models import Identity, Member
from events.models import Event

pytestmark = pytest.mark.django_db


def test_register_creates_once_and_the_same_identity_again_is_200(bot):
    body = {"platform": "discord", "external_id": "555", "username": "zed"}
    first = bot.post("/members", body)
    assert first.status_code == 201, first.content
    assert first.json()["created"] is True
    again = bot.post("/members", body)
    assert again.status_code == 200
    assert again.json()["created"] is False
    assert again.json()["id"] == first.json()["id"]
    assert Member.objects.count() == 1
    event = Event.objects.get(kind="member.registered")
    assert event.actor_id == bot.key.actor_id


def test_register_with_email_and_referral_code(bot, alice):
    body = {
        "platform": "web",
        "external_id": "w-1",
        "email": "zed@example.org",
        "referral_code": alice.referral_code,
    }
    response = bot.post("/members", body)
    assert response.status_code == 201, response.content
    assert response.json()["referred_by"] == alice.pk
    taken = bot.post(
        "/members", {"platform": "web", "external_id": "w-2", "email": "alice.liddell@gmail.com"}
    )
    assert taken.status_code == 409
    assert taken.json()["code"] == "email_already_registered"
    unknown = bot.post(
        "/members", {"platform": "web", "external_id": "w-3", "referral_code": "ZZZZZZZZ"}
    )
    assert unknown.status_code == 422
    assert unknown.json()["code"] == "unknown_referral_code"


def test_look_up_by_platform_id_and_by_id(bot, alice):
    found = bot.get("/members/by-identity/telegram/1001")
    assert found.status_code == 200
    assert found.json()["id"] == alice.pk
    assert found.json()["identities"] == [
        {
            "platform": "telegram",
            "external_id": "1001",
            "username": "alice",
            "first_name": "",
            "last_name": "",
            "is_bot": False,
        }
    ]
    assert bot.get(f"/members/{alice.pk}").json()["display_name"] == "alice"
    assert bot.get("/members/by-identity/telegram/404").status_code == 404
    assert bot.get("/members/by-identity/telegram/404").json()["code"] == "member_not_found"


def test_link_identity(bot, alice, bob):
    linked = bot.post(
        f"/members/{alice.pk}/identities", {"platform": "discord", "external_id": "99"}
    )
    assert linked.status_code == 201, linked.content
    assert len(linked.json()["identities"]) == 2
    assert (
        bot.post(
            f"/members/{alice.pk}/identities", {"platform": "discord", "external_id": "99"}
        ).status_code
        == 200
    )
    taken = bot.post(
        f"/members/{alice.pk}/identities", {"platform": "discord", "external_id": "2002"}
    )
    assert taken.status_code == 409
    assert taken.json()["code"] == "identity_already_linked"
    assert Identity.objects.filter(member=bob).count() == 1


def test_update_profile(bot, alice):
    response = bot.patch(f"/members/{alice.pk}", {"display_name": "Alice L.", "language": "fr"})
    assert response.status_code == 200, response.content
    assert response.json()["display_name"] == "Alice L."
    assert Event.objects.get(kind="member.updated").actor_id == bot.key.actor_id
    hidden = bot.patch(f"/members/{alice.pk}", {"display_name": "a\u202eb"})
    assert hidden.status_code == 422
    assert hidden.json()["code"] == "invalid_display_name"
    assert bot.patch(f"/members/{alice.pk}", {"display_name": None}).status_code == 422


def test_an_erased_member_is_not_changed_over_the_api(bot, alice, staff):
    from accounts.actions import erase_member
    from tests.helpers import table_contents

    erase_member(alice, reason="GDPR request", actor=staff)
    before = table_contents("accounts", "events")
    for answer in (
        bot.patch(f"/members/{alice.pk}", {"display_name": "Alice again"}),
        bot.patch(f"/members/{alice.pk}", {"archetype": "explorer"}),
        bot.post(f"/members/{alice.pk}/identities", {"platform": "web", "external_id": "w-9"}),
    ):
        assert answer.status_code == 409, answer.content
        assert answer.json()["code"] == "member_erased"
    assert table_contents("accounts", "events") == before


def test_members_write_needs_its_scope(make_bot):
    reader = make_bot("members:read", "ledger:write")
    response = reader.post("/members", {"platform": "discord", "external_id": "1"})
    assert response.status_code == 403
    assert not Member.objects.exists()
