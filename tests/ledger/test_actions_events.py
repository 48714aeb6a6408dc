"""The events every ledger action publishes in its transaction, and what they carry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.actions import register_member
from events.models import Event
from ledger.actions import (
    award,
    award_many,
    capture,
    expire_holds,
    grant_achievement,
    record_activity,
    release,
    reverse,
    spend,
    transfer,
)
from ledger.exceptions import InsufficientFunds
from ledger.models import Currency
from tests.helpers import refused_writing_nothing
from tests.ledger.helpers import achievement, place_hold

pytestmark = pytest.mark.django_db

POSTED = "ledger.transfer_posted"


# --- events ------------------------------------------------------------------------------


def scenario(name: str, alice, bob, staff):
    """Prepare `name`'s action; returns it and the event kinds it must publish."""
    if name == "award":
        return lambda: award(alice, 10, reason="x", idempotency_key="k", actor=staff), [POSTED]
    if name == "spend":
        return lambda: spend(alice, 10, sink="shop", reason="x", idempotency_key="k"), [POSTED]
    if name == "transfer":
        return lambda: transfer(alice, bob, 10, reason="x", idempotency_key="k"), [POSTED]
    if name == "award_many":
        return lambda: award_many([(alice, 1), (bob, 2)], reason="x", idempotency_key="k"), [POSTED]
    if name == "reverse":
        original = award(alice, 10, reason="x", idempotency_key="o")
        return lambda: reverse(original, reason="x", idempotency_key="k"), [POSTED]
    if name == "hold":
        return lambda: place_hold(alice), ["ledger.hold_placed"]
    if name == "capture":
        held = place_hold(alice)
        return lambda: capture(held), [POSTED, "ledger.hold_captured"]
    if name == "release":
        held = place_hold(alice)
        return lambda: release(held), ["ledger.hold_released"]
    if name == "expire_holds":
        place_hold(alice)
        return lambda: expire_holds(now=timezone.now() + timedelta(hours=2)), [
            "ledger.hold_expired"
        ]
    if name == "grant_achievement":
        helper = achievement(
            "helper", reward_amount=5, reward_currency=Currency.objects.get(code="points")
        )
        return lambda: grant_achievement(alice, helper), [POSTED, "ledger.achievement_granted"]
    if name == "record_activity":
        return lambda: record_activity(alice), ["ledger.activity_recorded"]
    if name == "open_wallets":
        return lambda: register_member(
            platform="web", external_id="new", referral_code=alice.referral_code
        ), ["member.registered", POSTED, POSTED]
    raise AssertionError(name)


@pytest.mark.parametrize(
    "name",
    [
        "award",
        "spend",
        "transfer",
        "award_many",
        "reverse",
        "hold",
        "capture",
        "release",
        "expire_holds",
        "grant_achievement",
        "record_activity",
        "open_wallets",
    ],
)
def test_every_action_publishes_its_events_in_its_transaction(
    name, alice, bob, staff, seen, django_capture_on_commit_callbacks
):
    action, kinds = scenario(name, alice, bob, staff)
    last = Event.objects.order_by("seq").last().seq
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        action()
        written = Event.objects.filter(seq__gt=last).order_by("seq")
        # Written with the change, handed to the handlers only once it commits.
        assert [e.kind for e in written] == kinds
        assert seen == []
    assert len(callbacks) == len(kinds)
    assert [e.kind for e in seen] == kinds
    # Broadcasting them is the relay's (tests/events/test_relay_steps.py and
    # test_relay_processes.py, with real commits).


def test_transfer_posted_lists_every_posting_with_the_new_balances(alice, bob, staff):
    moved = transfer(alice, bob, 30, reason="gift", idempotency_key="t", actor=staff)
    event = Event.objects.get(kind=POSTED, subject=f"transfer:{moved.pk}")
    assert event.actor_id == staff.pk
    assert event.data == {
        "transfer_id": moved.pk,
        "kind": "transfer",
        "currency": "points",
        "reason": "gift",
        "reverses": None,
        "postings": [
            {"member_id": alice.pk, "system": None, "amount": -30, "balance": 70, "version": 2},
            {"member_id": bob.pk, "system": None, "amount": 30, "balance": 130, "version": 2},
        ],
    }
    assert moved.event.seq == event.seq
    assert moved.event.data == event.data


def test_transfer_posted_names_system_accounts_without_balances(alice):
    paid = award(alice, 25, reason="quiz", idempotency_key="k")
    assert paid.event.data["postings"] == [
        {"member_id": alice.pk, "system": None, "amount": 25, "balance": 125, "version": 2},
        {"member_id": None, "system": "issuance", "amount": -25, "balance": None, "version": None},
    ]


def test_hold_events_carry_the_wallet_after_the_change(alice):
    held = place_hold(alice, 30)
    capture(held)
    placed, captured = (
        Event.objects.get(kind="ledger.hold_placed"),
        Event.objects.get(kind="ledger.hold_captured"),
    )
    assert (placed.subject, placed.data["balance"], placed.data["held"]) == (
        f"hold:{held.pk}",
        100,
        30,
    )
    assert (captured.data["status"], captured.data["balance"], captured.data["held"]) == (
        "captured",
        70,
        0,
    )
    assert captured.data["member_id"] == alice.pk


def test_a_refused_action_publishes_nothing(alice, seen, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        refused_writing_nothing(
            InsufficientFunds,
            lambda: spend(alice, 500, sink="shop", reason="x", idempotency_key="k"),
        )
    assert (callbacks, seen) == ([], [])
