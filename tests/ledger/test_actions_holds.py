"""Holds: reserving part of a balance, capture, release and expiry, each refusal writing nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from ledger.actions import award, capture, expire_holds, hold, release, spend, transfer
from ledger.exceptions import (
    HoldExpired,
    HoldNotPending,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidRequest,
)
from ledger.models import Hold
from tests.helpers import refused_writing_nothing
from tests.ledger.helpers import (
    everything,
    in_one_hour,
    lines,
    place_hold,
    refused_before_any_statement,
    wallet,
)

pytestmark = pytest.mark.django_db

# --- holds -------------------------------------------------------------------------------


def test_a_hold_reserves_part_of_the_balance(alice):
    held = place_hold(alice, 60)
    assert (held.status, held.amount, held.sink, held.settled_at, held.transfer_id) == (
        "pending",
        60,
        "sink:reading",
        None,
        None,
    )
    assert (wallet(alice).balance, wallet(alice).held, wallet(alice).available) == (100, 60, 40)


def test_a_spend_respects_the_holds(alice):
    place_hold(alice, 60)
    refused_writing_nothing(
        InsufficientFunds, lambda: spend(alice, 41, sink="shop", reason="x", idempotency_key="k")
    )
    spend(alice, 40, sink="shop", reason="x", idempotency_key="k")
    assert (wallet(alice).balance, wallet(alice).held) == (60, 60)


def test_a_transfer_respects_the_holds(alice, bob):
    place_hold(alice, 60)
    refused_writing_nothing(
        InsufficientFunds, lambda: transfer(alice, bob, 41, reason="x", idempotency_key="k")
    )


def test_a_hold_beyond_the_available_balance_raises_insufficient_funds(alice):
    place_hold(alice, 60)
    error = refused_writing_nothing(InsufficientFunds, lambda: place_hold(alice, 41, "hold-2"))
    assert "40 points available" in str(error)


def test_a_hold_in_a_currency_without_wallet_raises_insufficient_funds(alice, gems):
    refused_writing_nothing(InsufficientFunds, lambda: place_hold(alice, 1, currency="gems"))


@pytest.mark.parametrize(
    "expires_at",
    [
        timedelta(seconds=-1),
        timedelta(0),
        "naive",
        "tomorrow",
        None,
    ],
    ids=["past", "now", "naive", "text", "none"],
)
def test_a_hold_expires_at_an_aware_future_time(alice, expires_at):
    if isinstance(expires_at, timedelta):
        # Judged after the key is looked up (a replay of an expired hold still answers),
        # so only "writes nothing".
        expires_at = timezone.now() + expires_at
        refused_writing_nothing(InvalidRequest, lambda: place_hold(alice, 5, expires_at=expires_at))
        return
    if expires_at == "naive":
        expires_at = datetime.now() + timedelta(hours=1)
    refused_before_any_statement(
        InvalidRequest, lambda: place_hold(alice, 5, expires_at=expires_at)
    )


def test_the_same_hold_key_and_request_returns_the_same_hold_and_writes_nothing(alice):
    expires_at = in_one_hour()
    first = place_hold(alice, 30, expires_at=expires_at)
    before = everything()
    assert place_hold(alice, 30, expires_at=expires_at) == first
    assert everything() == before


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"amount": 31}, ["amount"]),
        ({"sink": "shop"}, ["sink"]),
        ({"reason": "palm reading"}, ["reason"]),
        ({"context": {"n": 1}}, ["context"]),
        ({"expires_at": "later"}, ["expires_at"]),
        ({"member": "bob"}, ["member"]),
        ({"currency": "credits"}, ["currency"]),
    ],
    ids=["amount", "sink", "reason", "context", "expires_at", "member", "currency"],
)
def test_the_same_hold_key_for_another_request_raises_a_conflict_naming_it(
    alice, bob, change, fields
):
    expires_at = in_one_hour()
    first = hold(
        alice, 30, sink="reading", reason="tarot", idempotency_key="h", expires_at=expires_at
    )
    # Funds in credits too, so only the key can refuse the credits request.
    award(alice, 40, currency="credits", reason="x", idempotency_key="credits")
    arguments = {
        "member": alice,
        "amount": 30,
        "sink": "reading",
        "reason": "tarot",
        "expires_at": expires_at,
        **change,
    }
    if arguments["member"] == "bob":
        arguments["member"] = bob
    if arguments["expires_at"] == "later":
        arguments["expires_at"] = expires_at + timedelta(minutes=1)
    member, amount = arguments.pop("member"), arguments.pop("amount")
    error = refused_writing_nothing(
        IdempotencyConflict, lambda: hold(member, amount, idempotency_key="h", **arguments)
    )
    assert (error.fields, error.original) == (fields, first)


def test_capture_spends_the_held_amount_to_the_sink(alice, staff):
    held = place_hold(alice, 30, context={"card": "tower"})
    spent = capture(held, actor=staff)
    assert (spent.kind, spent.reason, spent.idempotency_key, spent.actor_id) == (
        "spend",
        "tarot reading",
        f"hold:{held.pk}:capture",
        staff.pk,
    )
    assert spent.context == {"card": "tower", "hold_id": held.pk}
    assert lines(spent) == [(alice.pk, "", -30, 70, 2), (None, "sink:reading", 30, None, None)]
    assert (wallet(alice).balance, wallet(alice).held) == (70, 0)
    held.refresh_from_db()
    assert (held.status, held.transfer_id) == ("captured", spent.pk)
    assert held.settled_at is not None


def test_a_hold_request_replayed_after_its_expiry_returns_the_first_hold(alice, clock):
    expires_at = in_one_hour()
    first = place_hold(alice, 30, expires_at=expires_at)
    clock.advance(hours=2)
    before = everything()
    assert place_hold(alice, 30, expires_at=expires_at) == first
    assert everything() == before


def test_capturing_twice_returns_the_same_transfer_and_writes_nothing(alice):
    held = place_hold(alice, 30)
    first = capture(held)
    before = everything()
    assert capture(held) == first
    assert everything() == before


def test_release_frees_the_held_amount(alice):
    held = place_hold(alice, 30)
    released = release(held)
    assert released.status == "released"
    assert released.settled_at is not None
    assert (wallet(alice).balance, wallet(alice).held) == (100, 0)
    before = everything()
    assert release(held).status == "released"  # again: as it is, nothing written
    assert everything() == before


def test_release_after_capture_raises_hold_not_pending(alice):
    held = place_hold(alice, 30)
    capture(held)
    refused_writing_nothing(HoldNotPending, lambda: release(held))


def test_capture_after_release_raises_hold_not_pending(alice):
    held = place_hold(alice, 30)
    release(held)
    error = refused_writing_nothing(HoldNotPending, lambda: capture(held))
    assert not isinstance(error, HoldExpired)


def test_capture_after_the_expiry_time_raises_hold_expired(alice, clock):
    held = place_hold(alice, 30)
    clock.advance(hours=2)
    refused_writing_nothing(HoldExpired, lambda: capture(held))
    # Still counted until expire_holds releases it.
    assert (Hold.objects.get(pk=held.pk).status, wallet(alice).held) == ("pending", 30)


def test_capture_of_a_hold_marked_expired_raises_hold_expired(alice, clock):
    held = place_hold(alice, 30)
    clock.advance(hours=2)
    assert expire_holds() == 1
    refused_writing_nothing(HoldExpired, lambda: capture(held))


def test_release_refuses_a_status_other_than_released_or_expired(alice):
    held = place_hold(alice, 30)
    refused_before_any_statement(InvalidRequest, lambda: release(held, status="captured"))


def test_expire_holds_expires_past_due_pending_holds_and_frees_them(alice, bob):
    now = timezone.now()
    due = place_hold(alice, 10, "due", expires_at=now + timedelta(hours=1))
    later = place_hold(alice, 20, "later", expires_at=now + timedelta(hours=3))
    captured = place_hold(alice, 30, "captured", expires_at=now + timedelta(hours=1))
    capture(captured)
    other = place_hold(bob, 40, "other", expires_at=now + timedelta(hours=1))
    assert expire_holds(now=now + timedelta(hours=2)) == 2
    statuses = dict(Hold.objects.values_list("idempotency_key", "status"))
    assert statuses == {
        "due": "expired",
        "later": "pending",
        "captured": "captured",
        "other": "expired",
    }
    assert Hold.objects.get(pk=due.pk).settled_at is not None
    assert Hold.objects.get(pk=other.pk).settled_at is not None
    assert Hold.objects.get(pk=later.pk).settled_at is None
    assert (wallet(alice).balance, wallet(alice).held) == (70, 20)
    assert (wallet(bob).balance, wallet(bob).held) == (100, 0)
    before = everything()
    assert expire_holds(now=now + timedelta(hours=2)) == 0
    assert everything() == before


def test_expire_holds_works_through_every_batch(alice):
    now = timezone.now()
    for n in range(5):
        place_hold(alice, 10, f"h-{n}", expires_at=now + timedelta(minutes=n + 1))
    assert expire_holds(now=now + timedelta(hours=1), batch=2) == 5
    assert wallet(alice).held == 0


def test_an_expired_hold_released_again_stays_expired(alice, clock):
    held = place_hold(alice, 30)
    clock.advance(hours=2)
    expire_holds()
    before = everything()
    assert release(held).status == "expired"
    assert everything() == before
