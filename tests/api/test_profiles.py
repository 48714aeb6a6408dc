"""The Bot API's profile update goes through `update_profile`, and calls about a member
mark them active at most once a minute."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Member, Profile
from events.models import Event
from tests.helpers import table_contents

pytestmark = pytest.mark.django_db


def test_patching_profile_fields_calls_update_profile_with_the_keys_actor(bot, alice):
    response = bot.patch(
        f"/members/{alice.pk}",
        {
            "display_name": "Alice L.",
            "archetype": "explorer",
            "tutorial_completed": True,
            "preferences": {"theme": "dark", "timezone": "Europe/Berlin"},
            "personality": {"openness": 90, "neuroticism": 10},
        },
    )
    assert response.status_code == 200, response.content
    profile = response.json()["profile"]
    assert profile["archetype"] == "explorer"
    assert profile["preferences"] == {"theme": "dark", "timezone": "Europe/Berlin"}
    assert profile["personality"] == {"openness": 90, "neuroticism": 10}
    stored = Profile.objects.get(member=alice)
    assert (stored.archetype, stored.tutorial_completed) == ("explorer", True)
    event = Event.objects.get(kind="member.profile_updated")
    assert event.actor_id == bot.key.actor_id
    assert set(event.data["changed"]) == {
        "archetype",
        "tutorial_completed",
        "preferences",
        "personality",
    }
    assert Event.objects.filter(kind="member.updated").count() == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"archetype": "griefer"}, "unknown_archetype"),
        ({"preferences": {"theme": "neon"}}, "invalid_preferences"),
        ({"preferences": {"colour": "red"}}, "invalid_preferences"),
        ({"personality": {"openness": 101}}, "invalid_personality"),
        ({"personality": {"openness": "high"}}, "invalid_personality"),
    ],
)
def test_a_refused_profile_writes_nothing_not_even_the_member_fields(bot, alice, body, code):
    # Not even the activity mark: alice was active a moment ago (registration).
    before = table_contents()
    response = bot.patch(f"/members/{alice.pk}", {"display_name": "Changed", **body})
    assert response.status_code == 422, response.content
    assert response.json()["code"] == code
    assert table_contents() == before


def test_calls_about_a_member_mark_them_active_at_most_once_a_minute(bot, alice):
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Member.objects.filter(pk=alice.pk).update(last_active_at=an_hour_ago)
    spend = {"member_id": alice.pk, "amount": 1, "reason": "s", "sink": "shop"}
    assert bot.post("/ledger/spends", spend, key="a").status_code == 201
    first = Member.objects.get(pk=alice.pk).last_active_at
    assert first > an_hour_ago
    assert bot.post("/ledger/spends", spend, key="b").status_code == 201
    assert Member.objects.get(pk=alice.pk).last_active_at == first  # within the minute
    # A refused call is the member acting too.
    Member.objects.filter(pk=alice.pk).update(last_active_at=an_hour_ago)
    too_much = {**spend, "amount": 10**6}
    assert bot.post("/ledger/spends", too_much, key="c").status_code == 409
    assert Member.objects.get(pk=alice.pk).last_active_at > an_hour_ago


def test_registering_a_known_identity_again_is_activity(bot, alice):
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Member.objects.filter(pk=alice.pk).update(last_active_at=an_hour_ago)
    again = bot.post("/members", {"platform": "telegram", "external_id": "1001"})
    assert again.status_code == 200
    assert again.json()["last_active_at"] is not None
    assert Member.objects.get(pk=alice.pk).last_active_at > an_hour_ago
