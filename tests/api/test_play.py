"""Leaderboards, activity, achievements, tournaments, stories and events over HTTP."""

from __future__ import annotations

import time

import pytest

from events.models import Event
from ledger import actions as ledger
from ledger.models import Achievement, Currency
from narrative.demo import load_demo_story
from narrative.models import Choice
from tests.factories import TournamentFactory
from tournaments.actions import open_check_in
from tournaments.models import Registration

pytestmark = pytest.mark.django_db


def test_leaderboard_and_its_limits(bot, alice, bob):
    ledger.award(bob, 50, reason="x", idempotency_key="lb-1")
    ranks = bot.get("/ledger/leaderboards/points", limit=2).json()
    assert [(r["rank"], r["member_id"], r["amount"]) for r in ranks] == [
        (1, bob.pk, 150),
        (2, alice.pk, 100),
    ]
    assert bot.get("/ledger/leaderboards/points", limit=101).status_code == 422
    assert bot.get("/ledger/leaderboards/nope").status_code == 422


def test_activity_and_achievements(bot, alice):
    streak = bot.post(f"/ledger/members/{alice.pk}/activity")
    assert streak.status_code == 200, streak.content
    assert streak.json()["current"] == 1
    achievement = Achievement.objects.create(
        code="api-helper",
        name="Helper",
        rule="granted",
        reward_amount=25,
        reward_currency=Currency.objects.get(code="points"),
    )
    granted = bot.post(
        f"/ledger/members/{alice.pk}/achievements", {"code": achievement.code}, key="g1"
    )
    assert granted.status_code == 200, granted.content
    assert achievement.code in [g["code"] for g in granted.json()]
    assert bot.get(f"/ledger/members/{alice.pk}/balance").json()["balance"] == 125
    assert bot.get(f"/ledger/members/{alice.pk}/achievements").json() == granted.json()
    missing = bot.post(f"/ledger/members/{alice.pk}/achievements", {"code": "nope"}, key="g2")
    assert missing.status_code == 404


def test_tournament_list_register_check_in_withdraw(bot, alice, bob):
    cup = TournamentFactory(entry_fee=10, capacity=2)
    page = bot.get("/tournaments", limit=1).json()
    assert [t["id"] for t in page["items"]] == [cup.pk]
    registered = bot.post(f"/tournaments/{cup.pk}/register", {"member_id": alice.pk}, key="r1")
    assert registered.status_code == 200, registered.content
    assert registered.json()["status"] == "registered"
    assert registered.json()["fee_transfer_id"] is not None
    assert bot.post(f"/tournaments/{cup.pk}/register", {"member_id": alice.pk}).status_code == 400
    board = bot.get(f"/tournaments/{cup.pk}").json()
    assert board["registered"] == 1
    assert [p["member_id"] for p in board["players"]] == [alice.pk]
    bot.post(f"/tournaments/{cup.pk}/register", {"member_id": bob.pk}, key="r2")
    open_check_in(cup)
    checked = bot.post(f"/tournaments/{cup.pk}/check-in", {"member_id": alice.pk})
    assert checked.status_code == 200, checked.content
    assert checked.json()["status"] == "checked_in"
    left = bot.post(f"/tournaments/{cup.pk}/withdraw", {"member_id": bob.pk}, key="w1")
    assert left.status_code == 200, left.content
    assert left.json()["status"] == "withdrawn"
    assert left.json()["refund_transfer_id"] is not None
    assert Registration.objects.get(pk=left.json()["id"]).status == "withdrawn"


def test_a_full_tournament_is_409_tournament_full(bot, alice, bob):
    cup = TournamentFactory(entry_fee=0, capacity=2, waitlist_limit=0)
    third = bot.post("/members", {"platform": "web", "external_id": "third"}).json()
    for n, member_id in enumerate([alice.pk, bob.pk]):
        bot.post(f"/tournaments/{cup.pk}/register", {"member_id": member_id}, key=f"f{n}")
    full = bot.post(f"/tournaments/{cup.pk}/register", {"member_id": third["id"]}, key="f3")
    assert full.status_code == 409
    assert full.json()["code"] == "tournament_full"


def test_story_start_choose_and_where(bot, alice):
    story = load_demo_story()
    listed = bot.get("/stories").json()
    assert story.pk in [s["id"] for s in listed]
    started = bot.post(f"/stories/{story.pk}/start", {"member_id": alice.pk})
    assert started.status_code == 200, started.content
    assert started.json()["chapter_number"] == 1
    row = Choice.objects.get(chapter__story=story, text="Row out to the wreck")
    chosen = bot.post(f"/stories/choices/{row.pk}", {"member_id": alice.pk}, key="c1")
    assert chosen.status_code == 200, chosen.content
    assert chosen.json()["reward"] == 10
    assert chosen.json()["now"]["chapter_number"] == 2
    where = bot.get(f"/stories/{story.pk}/members/{alice.pk}").json()
    assert where["chapter_title"] == "The wreck"
    keep = Choice.objects.get(chapter__story=story, text="Keep the lamp burning")
    again = bot.post(f"/stories/choices/{keep.pk}", {"member_id": alice.pk}, key="c2")
    assert again.status_code == 409
    assert again.json()["code"] in {"chapter_already_decided", "not_current_chapter"}


def test_events_after_a_seq_in_scope_and_order(bot, alice):
    top = Event.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    ledger.award(alice, 5, reason="quiz", idempotency_key="ev-1")
    ledger.award(
        alice, 6, currency="credits", reason="quiz", idempotency_key="ev-2"
    ) if False else None
    answer = bot.get("/events", after=top).json()
    kinds = [e["kind"] for e in answer["events"]]
    assert "ledger.transfer_posted" in kinds
    seqs = [e["seq"] for e in answer["events"]]
    assert seqs == sorted(seqs)
    assert all(seq > top for seq in seqs)
    assert answer["next_after"] >= seqs[-1]
    transfer = next(e for e in answer["events"] if e["kind"] == "ledger.transfer_posted")
    assert "balance" not in str(transfer["data"])  # the public projection, as the stream's
    nothing = bot.get("/events", after=answer["next_after"]).json()
    assert nothing == {"events": [], "next_after": answer["next_after"]}
    scoped = bot.get("/events", after=top, scope="leaderboard:credits").json()
    assert scoped["events"] == []
    assert bot.get("/events", scope="bogus").status_code == 422


def test_events_long_poll_waits_then_answers_empty(bot):
    top = Event.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    began = time.monotonic()
    answer = bot.get("/events", after=top, wait=1).json()
    assert answer == {"events": [], "next_after": top}
    assert time.monotonic() - began >= 0.9


def test_events_need_their_scope(make_bot):
    assert make_bot("ledger:read").get("/events").status_code == 403
