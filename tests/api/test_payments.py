"""Payments and readings over HTTP: the same actions, the key's actor, idempotency, and
refusals as stable problem codes."""

from __future__ import annotations

import pytest

from events.models import Event
from ledger.actions import award
from ledger.models import Transfer
from payments.models import Payment, Reading
from tests.payments.helpers import credits

pytestmark = pytest.mark.django_db

REF = {"provider": "stripe", "reference": "pi_api"}


def _start(bot, member, key="s1"):
    body = {**REF, "member_id": member.pk, "amount": 499, "currency": "EUR", "credit_amount": 500}
    return bot.post("/payments/start", body, key=key)


def test_a_payment_started_and_completed_over_http_credits_once(bot, alice):
    started = _start(bot, alice)
    assert started.status_code == 201, started.content
    assert started.json()["status"] == "pending"
    done = bot.post("/payments/complete", REF, key="c1")
    assert done.status_code == 200, done.content
    data = done.json()
    assert (data["status"], data["credit_currency"], data["credit_amount"]) == (
        "completed",
        "credits",
        500,
    )
    # The provider calls back again (a new request, a new key): nothing more is paid.
    again = bot.post("/payments/complete", REF, key="c2")
    assert again.json()["transfer_id"] == data["transfer_id"]
    assert credits(alice) == (500, 0)
    assert Transfer.objects.get(pk=data["transfer_id"]).actor_id == bot.key.actor_id
    event = Event.objects.get(kind="payments.payment_completed")
    assert event.actor_id == bot.key.actor_id
    assert bot.get("/payments/stripe/pi_api").json()["status"] == "completed"


def test_a_failed_payment_refuses_its_late_success(bot, alice):
    _start(bot, alice)
    failed = bot.post("/payments/fail", {**REF, "error_message": "card_declined"}, key="f1")
    assert failed.json()["error_message"] == "card_declined"
    late = bot.post("/payments/complete", REF, key="c1")
    assert (late.status_code, late.json()["code"]) == (409, "payment_failed")
    assert Payment.objects.get().status == "failed"


def test_a_refund_that_would_overdraw_is_a_409_until_clamped(bot, alice):
    _start(bot, alice)
    bot.post("/payments/complete", REF, key="c1")
    bot.post(
        "/ledger/spends",
        {
            "member_id": alice.pk,
            "amount": 100,
            "currency": "credits",
            "sink": "shop",
            "reason": "x",
        },
        key="sp",
    )
    refused = bot.post("/payments/refund", {**REF, "reason": "Chargeback"}, key="r1")
    assert (refused.status_code, refused.json()["code"]) == (409, "refund_would_overdraw")
    clamped = bot.post(
        "/payments/refund", {**REF, "reason": "Chargeback", "settle": "clamp"}, key="r2"
    )
    assert (clamped.json()["status"], clamped.json()["written_off"]) == ("refunded", 100)


def test_a_payment_needs_an_idempotency_key(bot, alice):
    response = _start(bot, alice, key=None)
    assert response.json()["code"] == "idempotency_key_required"
    assert not Payment.objects.exists()


def test_a_reading_begun_and_finished_over_http(bot, alice):
    award(alice, 100, currency="credits", reason="Gift", idempotency_key="gift")
    body = {"member_id": alice.pk, "spread": "celtic_cross", "question": "Move?", "price": 40}
    begun = bot.post("/readings", body, key="b1")
    assert begun.status_code == 201, begun.content
    hold_id = begun.json()["id"]
    assert bot.post("/readings", body, key="b1").json()["id"] == hold_id  # a retry
    assert credits(alice) == (100, 40)
    finish = {"cards": ["The Hermit", "Six of Swords"], "interpretation": "Yes, slowly."}
    done = bot.post(f"/readings/{hold_id}/finish", finish, key="f1")
    assert done.status_code == 201, done.content
    assert done.json()["cards"] == ["The Hermit", "Six of Swords"]
    other = bot.post(f"/readings/{hold_id}/finish", {**finish, "cards": ["Death"]}, key="f2")
    assert (other.status_code, other.json()["code"]) == (409, "reading_already_finished")
    assert Reading.objects.count() == 1
    assert credits(alice) == (60, 0)


def test_a_reading_abandoned_over_http_frees_its_price(bot, alice):
    award(alice, 100, currency="credits", reason="Gift", idempotency_key="gift")
    body = {"member_id": alice.pk, "spread": "yes_no", "price": 10}
    hold_id = bot.post("/readings", body, key="b1").json()["id"]
    abandoned = bot.post(f"/readings/{hold_id}/abandon", key="a1")
    assert abandoned.json()["status"] == "released"
    closed = bot.post(
        f"/readings/{hold_id}/finish", {"cards": ["The Sun"], "interpretation": "Yes."}, key="f1"
    )
    assert (closed.status_code, closed.json()["code"]) == (409, "reading_not_open")
    assert credits(alice) == (100, 0)


def test_an_unknown_spread_is_a_422(bot, alice):
    body = {"member_id": alice.pk, "spread": "tea_leaves", "price": 10}
    response = bot.post("/readings", body, key="b1")
    assert (response.status_code, response.json()["code"]) == (422, "invalid_reading")


def test_payments_need_the_ledger_scope(make_bot, alice):
    reader = make_bot("members:write")
    assert _start(reader, alice).status_code == 403
