"""Every event written through a key names the key's actor, whatever the endpoint."""

from __future__ import annotations

import pytest

from events.models import Event
from ledger.models import Achievement, Currency
from narrative.demo import load_demo_story
from narrative.models import Choice
from tests.factories import TournamentFactory
from tournaments.actions import open_check_in

pytestmark = pytest.mark.django_db


def test_every_event_written_through_the_api_names_the_keys_actor(bot, alice):
    story = load_demo_story()
    cup = TournamentFactory(entry_fee=5, capacity=4)
    Achievement.objects.create(
        code="api-actor",
        name="Actor",
        rule="granted",
        reward_amount=3,
        reward_currency=Currency.objects.get(code="points"),
    )
    top = Event.objects.order_by("-seq").values_list("seq", flat=True).first()

    def ok(response):
        assert response.status_code < 300, response.content
        return response.json()

    zed = ok(bot.post("/members", {"platform": "discord", "external_id": "3003"}))["id"]
    ok(bot.post(f"/members/{zed}/identities", {"platform": "web", "external_id": "actor-w"}))
    ok(bot.patch(f"/members/{zed}", {"display_name": "Zed", "archetype": "explorer"}))
    ok(bot.post("/ledger/awards", {"member_id": zed, "amount": 50, "reason": "a"}, key="1"))
    spend = {"member_id": zed, "amount": 5, "reason": "s", "sink": "shop"}
    ok(bot.post("/ledger/spends", spend, key="2"))
    moved = ok(
        bot.post(
            "/ledger/transfers",
            {"from_member_id": zed, "to_member_id": alice.pk, "amount": 5, "reason": "t"},
            key="3",
        )
    )
    ok(bot.post(f"/ledger/transfers/{moved['id']}/reverse", {"reason": "r"}, key="4"))
    hold = {**spend, "expires_in_seconds": 60}
    ok(
        bot.post(
            f"/ledger/holds/{ok(bot.post('/ledger/holds', hold, key='5'))['id']}/capture", key="6"
        )
    )
    ok(
        bot.post(
            f"/ledger/holds/{ok(bot.post('/ledger/holds', hold, key='7'))['id']}/release", key="8"
        )
    )
    ok(bot.post(f"/ledger/members/{zed}/activity"))
    ok(bot.post(f"/ledger/members/{zed}/achievements", {"code": "api-actor"}, key="9"))
    ok(bot.post(f"/tournaments/{cup.pk}/register", {"member_id": zed}, key="10"))
    ok(bot.post(f"/tournaments/{cup.pk}/register", {"member_id": alice.pk}, key="11"))
    ok(bot.post(f"/tournaments/{cup.pk}/withdraw", {"member_id": alice.pk}, key="12"))
    open_check_in(cup, actor=bot.key.actor)
    ok(bot.post(f"/tournaments/{cup.pk}/check-in", {"member_id": zed}))
    ok(bot.post(f"/stories/{story.pk}/start", {"member_id": zed}))
    row = Choice.objects.get(chapter__story=story, text="Row out to the wreck")
    ok(bot.post(f"/stories/choices/{row.pk}", {"member_id": zed}, key="13"))

    written = list(Event.objects.filter(seq__gt=top).values_list("kind", "actor_id"))
    assert len({kind for kind, _ in written}) >= 15, written
    assert [(kind, actor) for kind, actor in written if actor != bot.key.actor_id] == []
