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
    member = MemberFactory(platform="telegram", external_id="poll-1")
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
