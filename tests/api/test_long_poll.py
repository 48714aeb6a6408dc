"""GET /api/v1/events waits for the next event and answers as soon as it is committed."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from api.actions import create_key
from events.models import Event
from ledger.actions import award
from tests.api.conftest import Bot
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_waiting_poll_answers_when_an_award_commits():
    member = MemberFactory(platform="web", external_id="poll-1")
    bot = Bot(create_key(label="poll", scopes=["events:read"]))
    top = Event.objects.order_by("-seq").values_list("seq", flat=True).first()

    def later() -> None:
        time.sleep(1.0)
        try:
            award(member, 5, reason="quiz", idempotency_key="poll-award")
        finally:
            connection.close()

    writer = threading.Thread(target=later)
    began = time.monotonic()
    writer.start()
    answer = bot.get("/events", after=top, wait=10, scope="leaderboard:points").json()
    took = time.monotonic() - began
    writer.join(10)
    assert [e["kind"] for e in answer["events"]] == ["ledger.transfer_posted"]
    data = answer["events"][0]["data"]
    assert (data["kind"], data["reason"], data["currency"]) == ("award", "quiz", "points")
    assert 0.9 <= took < 5, took


@pytest.mark.postgres
def test_an_event_is_not_answered_while_a_lower_seq_may_still_commit():
    """A transaction holding a lower seq is still running: the higher, committed event is
    held back (a poller that took it would move past the lower one and never see it);
    once it commits, both come, in seq order."""
    from django.db import transaction

    first, second = (MemberFactory(platform="web", external_id=f"hold-{n}") for n in (1, 2))
    bot = Bot(create_key(label="poll", scopes=["events:read"]))
    top = Event.objects.order_by("-seq").values_list("seq", flat=True).first()
    written, release = threading.Event(), threading.Event()

    def slow() -> None:
        try:
            with transaction.atomic():
                award(first, 1, reason="slow", idempotency_key="slow")
                written.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=slow)
    holder.start()
    try:
        assert written.wait(10)
        award(second, 2, reason="fast", idempotency_key="fast")  # commits, a higher seq
        held = bot.get("/events", after=top, scope="leaderboard:points").json()
        assert held == {"events": [], "next_after": top}
    finally:
        release.set()
        holder.join(10)
    both = bot.get("/events", after=top, scope="leaderboard:points").json()
    assert [e["data"]["reason"] for e in both["events"]] == ["slow", "fast"]
