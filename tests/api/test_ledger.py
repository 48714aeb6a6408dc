"""The ledger over HTTP: the same actions, the key's actor on every event, idempotency."""

from __future__ import annotations

import pytest

from api import idempotency
from api.models import IdempotentRequest
from events.models import Event
from ledger import actions
from ledger.models import Hold, Transfer

pytestmark = pytest.mark.django_db


def _award(bot, member, amount=5, key="a1", **extra):
    return bot.post(
        "/ledger/awards",
        {"member_id": member.pk, "amount": amount, "reason": "quiz", **extra},
        key=key,
    )


def test_award_posts_through_the_action_and_the_event_names_the_keys_actor(bot, alice):
    response = _award(bot, alice, 25)
    assert response.status_code == 201, response.content
    data = response.json()
    transfer = Transfer.objects.get(pk=data["id"])
    assert transfer.actor_id == bot.key.actor_id
    assert transfer.idempotency_key == f"api:{bot.key.actor_id}:a1"
    event = Event.objects.get(kind="ledger.transfer_posted", data__transfer_id=transfer.pk)
    assert event.actor_id == bot.key.actor_id
    mine = next(p for p in data["postings"] if p["member_id"] == alice.pk)
    assert mine == {
        "member_id": alice.pk,
        "account": f"member:{alice.pk}",
        "amount": 25,
        "balance": 125,
    }
    balance = bot.get(f"/ledger/members/{alice.pk}/balance").json()
    assert balance == {
        "member_id": alice.pk,
        "currency": "points",
        "balance": 125,
        "available": 125,
    }


def test_a_retry_with_the_same_key_and_body_pays_once_and_answers_the_same(bot, alice):
    first = _award(bot, alice, 7)
    again = _award(bot, alice, 7)
    assert again.status_code == first.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Transfer.objects.filter(kind="award").count() == 1


def test_the_same_key_with_another_body_is_refused_naming_the_fields(bot, alice, bob):
    _award(bot, alice, 7)
    response = _award(bot, bob, 8)
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "idempotency_key_reused"
    assert problem["fields"] == ["amount", "member_id"]
    assert Transfer.objects.filter(kind="award").count() == 1


def test_keys_are_scoped_to_the_api_key(make_bot, alice):
    one, other = make_bot("ledger:write"), make_bot("ledger:write")
    assert _award(one, alice, 5).status_code == 201
    assert _award(other, alice, 5).status_code == 201
    assert Transfer.objects.filter(kind="award").count() == 2


def test_value_moving_writes_without_a_key_are_refused(bot, alice, bob):
    for path, body in [
        ("/ledger/awards", {"member_id": alice.pk, "amount": 5, "reason": "x"}),
        ("/ledger/spends", {"member_id": alice.pk, "amount": 5, "reason": "x", "sink": "shop"}),
        (
            "/ledger/transfers",
            {"from_member_id": alice.pk, "to_member_id": bob.pk, "amount": 5, "reason": "x"},
        ),
        (
            "/ledger/holds",
            {
                "member_id": alice.pk,
                "amount": 5,
                "reason": "x",
                "sink": "s",
                "expires_in_seconds": 9,
            },
        ),
        ("/ledger/holds/1/capture", {}),
        ("/ledger/holds/1/release", {}),
        ("/ledger/transfers/1/reverse", {"reason": "x"}),
    ]:
        response = bot.post(path, body)
        assert response.status_code == 400, path
        assert response.json()["code"] == "idempotency_key_required"
    assert not Transfer.objects.filter(kind__in=["award", "spend", "transfer"]).exists()
    assert not Hold.objects.exists()


def test_a_refusal_is_stored_and_replayed_too(bot, alice):
    body = {"member_id": alice.pk, "amount": 10_000, "reason": "too much", "sink": "shop"}
    first = bot.post("/ledger/spends", body, key="s1")
    assert first.status_code == 409
    assert first.json()["code"] == "insufficient_funds"
    _award(bot, alice, 20_000, key="topup")
    again = bot.post("/ledger/spends", body, key="s1")
    assert again.status_code == 409  # Stripe's semantics: the key's answer, not a new try
    assert again["Idempotent-Replayed"] == "true"
    assert bot.post("/ledger/spends", body, key="s2").status_code == 201


def test_spend_transfer_and_reverse(bot, alice, bob):
    spent = bot.post(
        "/ledger/spends",
        {"member_id": alice.pk, "amount": 30, "reason": "shop", "sink": "shop"},
        key="s",
    )
    assert spent.status_code == 201, spent.content
    moved = bot.post(
        "/ledger/transfers",
        {"from_member_id": alice.pk, "to_member_id": bob.pk, "amount": 20, "reason": "gift"},
        key="t",
    )
    assert moved.status_code == 201, moved.content
    back = bot.post(f"/ledger/transfers/{moved.json()['id']}/reverse", {"reason": "oops"}, key="r")
    assert back.status_code == 201, back.content
    assert back.json()["reverses_id"] == moved.json()["id"]
    twice = bot.post(
        f"/ledger/transfers/{moved.json()['id']}/reverse", {"reason": "oops"}, key="r2"
    )
    assert twice.status_code == 409
    assert twice.json()["code"] == "already_reversed"
    assert bot.get(f"/ledger/members/{alice.pk}/balance").json()["balance"] == 70
    missing = bot.post("/ledger/transfers/999999/reverse", {"reason": "x"}, key="r3")
    assert missing.status_code == 404


def test_hold_capture_and_release(bot, alice):
    body = {
        "member_id": alice.pk,
        "amount": 40,
        "reason": "reading",
        "sink": "reading",
        "expires_in_seconds": 600,
    }
    held = bot.post("/ledger/holds", body, key="h1")
    assert held.status_code == 201, held.content
    assert held.json()["status"] == "pending"
    assert bot.get(f"/ledger/members/{alice.pk}/balance").json()["available"] == 60
    captured = bot.post(f"/ledger/holds/{held.json()['id']}/capture", key="c1")
    assert captured.status_code == 200, captured.content
    assert captured.json()["status"] == "captured"
    assert bot.get(f"/ledger/members/{alice.pk}/balance").json() == {
        "member_id": alice.pk, "currency": "points", "balance": 60, "available": 60
    }  # fmt: skip
    other = bot.post("/ledger/holds", {**body, "amount": 10}, key="h2").json()
    released = bot.post(f"/ledger/holds/{other['id']}/release", key="r1")
    assert released.json()["status"] == "released"
    late = bot.post(f"/ledger/holds/{other['id']}/capture", key="c2")
    assert late.status_code == 409
    assert late.json()["code"] == "hold_not_pending"


def test_statement_pages_by_cursor_to_the_end(bot, alice):
    for n in range(5):
        actions.award(alice, n + 1, reason=f"r{n}", idempotency_key=f"st-{n}")
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = bot.get(f"/ledger/members/{alice.pk}/statement", **params).json()
        seen += [line["reason"] for line in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 6  # and the signup bonus, first of all
    assert seen[:5] == ["r4", "r3", "r2", "r1", "r0"]
    assert bot.get(f"/ledger/members/{alice.pk}/statement", limit=201).status_code == 422


def test_stored_answers_are_kept_a_day_then_purged(bot, alice, clock):
    _award(bot, alice, 5)
    clock.advance(hours=25)
    assert idempotency.purge() == 0  # kept at least 24 h (48 by default)
    assert _award(bot, alice, 5)["Idempotent-Replayed"] == "true"
    clock.advance(hours=24)
    assert idempotency.purge() == 1
    assert not IdempotentRequest.objects.exists()
    again = _award(bot, alice, 5)  # the ledger's own key still holds: it pays once
    assert again.status_code == 201
    assert Transfer.objects.filter(kind="award").count() == 1


def test_unknown_member_is_404(bot):
    response = bot.post(
        "/ledger/awards", {"member_id": 987654, "amount": 5, "reason": "x"}, key="z"
    )
    assert response.status_code == 404
    assert response.json()["code"] == "member_not_found"
    assert response.json()["detail"] == "no member 987654"
    assert not Transfer.objects.exists()
    assert IdempotentRequest.objects.get(key="z").status == 404  # the refusal is stored


def test_an_answer_built_from_the_written_event_equals_the_postings_read_back(bot, alice, bob):
    """Writes answer from the event their statement wrote (no read after the write); a
    transfer read back from its postings (what a replayed ledger key answers) is the same."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from api.routes.ledger import transfer_data

    with CaptureQueriesContext(connection) as queries:
        awarded = _award(bot, alice, 25, key="w1")
    assert not [q for q in queries if 'FROM "ledger_posting"' in q["sql"]]
    answers = [
        awarded,
        bot.post(
            "/ledger/spends",
            {"member_id": alice.pk, "amount": 30, "reason": "shop", "sink": "shop"},
            key="w2",
        ),
        bot.post(
            "/ledger/transfers",
            {"from_member_id": alice.pk, "to_member_id": bob.pk, "amount": 20, "reason": "g"},
            key="w3",
        ),
    ]
    answers.append(
        bot.post(f"/ledger/transfers/{answers[2].json()['id']}/reverse", {"reason": "x"}, key="w4")
    )
    for answer in answers:
        assert answer.status_code == 201, answer.content
        stored = Transfer.objects.get(pk=answer.json()["id"])
        assert not hasattr(stored, "event")  # read back: its postings are queried
        assert transfer_data(stored) == answer.json()
        assert len(answer.json()["postings"]) == 2
