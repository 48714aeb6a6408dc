"""What award, spend, transfer, award_many and reverse pay, and what they refuse
writing nothing."""

from __future__ import annotations

import pytest

from ledger.actions import award, award_many, reverse, spend, transfer
from ledger.exceptions import (
    AlreadyReversed,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
    InvalidRequest,
    InvalidReversal,
)
from ledger.models import Account, Posting, Transfer
from ledger.plans import MAX_AMOUNT
from tests.factories import MemberFactory
from tests.helpers import refused_writing_nothing
from tests.ledger.helpers import (
    balance,
    everything,
    lines,
    place_hold,
    refused_before_any_statement,
    wallet,
)

pytestmark = pytest.mark.django_db

# --- award -------------------------------------------------------------------------------


def test_award_pays_the_member_from_issuance(alice, staff):
    paid = award(alice, 25, reason="quiz", idempotency_key="quiz-1", actor=staff)
    assert (paid.kind, paid.reason, paid.idempotency_key, paid.actor_id) == (
        "award",
        "quiz",
        "quiz-1",
        staff.pk,
    )
    assert lines(paid) == [(alice.pk, "", 25, 125, 2), (None, "issuance", -25, None, None)]
    assert (balance(alice), wallet(alice).version) == (125, 2)
    assert paid.balances == {alice.pk: 125}
    assert paid.replayed is False


def test_the_returned_transfer_is_exactly_the_row_written(alice, staff):
    paid = award(
        alice, 25, reason="  quiz  ", idempotency_key="quiz-1", actor=staff, context={"q": 3}
    )
    stored = Transfer.objects.get(pk=paid.pk)
    fields = [f.attname for f in Transfer._meta.concrete_fields]
    assert {f: getattr(paid, f) for f in fields} == {f: getattr(stored, f) for f in fields}
    assert (stored.reason, stored.context) == ("quiz", {"q": 3})
    assert paid._state.adding is False


def test_award_opens_the_wallet_and_issuance_account_it_needs(alice, gems):
    assert not Account.objects.filter(currency=gems).exists()
    paid = award(alice, 7, currency="gems", reason="launch", idempotency_key="gems-1")
    assert lines(paid) == [(alice.pk, "", 7, 7, 1), (None, "issuance", -7, None, None)]
    assert (balance(alice, "gems"), wallet(alice, "gems").held) == (7, 0)


@pytest.mark.parametrize(
    "kind", ["bonus", "referral_bonus", "achievement", "prize", "refund", "adjustment"]
)
def test_award_records_any_kind_of_payment(alice, kind):
    assert award(alice, 1, kind=kind, reason="x", idempotency_key="k").kind == kind


def test_wallet_postings_chain_their_balances_and_versions(alice, bob):
    award(alice, 40, reason="quiz", idempotency_key="a")
    spend(alice, 15, sink="reading", reason="reading", idempotency_key="b")
    transfer(alice, bob, 25, reason="gift", idempotency_key="c")
    award_many([(alice, 5), (bob, 5)], reason="event", idempotency_key="d")
    chain = list(
        Posting.objects.filter(account=wallet(alice))
        .order_by("version")
        .values_list("version", "amount", "balance_after")
    )
    assert chain == [(1, 100, 100), (2, 40, 140), (3, -15, 125), (4, -25, 100), (5, 5, 105)]
    assert (balance(alice), wallet(alice).version) == (105, 5)


# --- spend -------------------------------------------------------------------------------


def test_spend_moves_available_balance_to_the_sink(alice):
    spent = spend(alice, 30, sink="reading", reason="tarot reading", idempotency_key="s-1")
    assert spent.kind == "spend"
    assert lines(spent) == [(alice.pk, "", -30, 70, 2), (None, "sink:reading", 30, None, None)]
    sink = Account.objects.get(name="sink:reading")
    assert (sink.member_id, sink.balance, sink.held, sink.version) == (None, None, None, None)
    assert spent.balances == {alice.pk: 70}


def test_a_sink_may_be_named_with_or_without_its_prefix(alice):
    spend(alice, 1, sink="reading", reason="x", idempotency_key="s-1")
    spend(alice, 1, sink="sink:reading", reason="x", idempotency_key="s-2")
    assert Account.objects.filter(name__startswith="sink:").count() == 1


def test_spend_may_use_the_whole_balance(alice):
    spend(alice, 100, kind="purchase", sink="shop", reason="x", idempotency_key="s-1")
    assert balance(alice) == 0


@pytest.mark.parametrize("amount", [101, MAX_AMOUNT])
def test_spend_beyond_the_balance_raises_insufficient_funds_and_writes_nothing(alice, amount):
    error = refused_writing_nothing(
        InsufficientFunds,
        lambda: spend(alice, amount, sink="shop", reason="x", idempotency_key="s-1"),
    )
    assert "100 points available" in str(error)


def test_spend_from_a_currency_without_wallet_raises_insufficient_funds(alice, gems):
    refused_writing_nothing(
        InsufficientFunds,
        lambda: spend(alice, 1, currency="gems", sink="shop", reason="x", idempotency_key="k"),
    )


# --- transfer ----------------------------------------------------------------------------


def test_transfer_moves_value_between_two_members(alice, bob):
    moved = transfer(alice, bob, 30, reason="gift", idempotency_key="t-1")
    assert moved.kind == "transfer"
    assert sorted(lines(moved)) == sorted([(alice.pk, "", -30, 70, 2), (bob.pk, "", 30, 130, 2)])
    assert moved.balances == {alice.pk: 70, bob.pk: 130}


def test_transfer_beyond_the_balance_raises_insufficient_funds_and_writes_nothing(alice, bob):
    refused_writing_nothing(
        InsufficientFunds, lambda: transfer(alice, bob, 101, reason="gift", idempotency_key="t")
    )


def test_transfer_to_oneself_is_invalid(alice):
    refused_before_any_statement(
        InvalidRequest, lambda: transfer(alice, alice, 1, reason="x", idempotency_key="t")
    )


def test_transfer_opens_the_recipients_wallet(alice, bob, gems):
    award(alice, 10, currency="gems", reason="x", idempotency_key="g")
    transfer(alice, bob, 4, currency="gems", reason="gift", idempotency_key="t")
    assert (balance(alice, "gems"), balance(bob, "gems")) == (6, 4)


# --- award_many --------------------------------------------------------------------------


def test_award_many_sums_each_members_awards_into_one_posting(alice, bob):
    paid = award_many(
        [(alice, 10), (bob, 5), (alice, 15)], kind="prize", reason="cup", idempotency_key="cup"
    )
    assert sorted(lines(paid), key=str) == sorted(
        [(alice.pk, "", 25, 125, 2), (bob.pk, "", 5, 105, 2), (None, "issuance", -30, None, None)],
        key=str,
    )
    assert paid.balances == {alice.pk: 125, bob.pk: 105}


def test_award_many_writes_every_wallet_once(alice, bob):
    carol = MemberFactory(platform="web", external_id="carol")
    award_many([(carol, 1), (bob, 2), (alice, 3), (bob, 4)], reason="x", idempotency_key="k")
    assert [(balance(m), wallet(m).version) for m in (alice, bob, carol)] == [
        (103, 2),
        (106, 2),
        (101, 2),
    ]


def test_award_many_of_one_member_is_the_same_request_as_award(alice):
    single = award(alice, 25, reason="quiz", idempotency_key="quiz-1")
    before = everything()
    again = award_many([(alice, 10), (alice, 15)], reason="quiz", idempotency_key="quiz-1")
    assert (again, again.replayed) == (single, True)
    assert everything() == before


def test_award_many_needs_an_award(db):
    refused_before_any_statement(
        InvalidRequest, lambda: award_many([], reason="x", idempotency_key="k")
    )


def test_award_many_refuses_a_total_above_the_largest_amount(alice, bob):
    refused_before_any_statement(
        InvalidAmount,
        lambda: award_many([(alice, MAX_AMOUNT), (bob, 1)], reason="x", idempotency_key="k"),
    )


def test_award_many_with_one_bad_amount_writes_nothing(alice, bob):
    refused_before_any_statement(
        InvalidAmount,
        lambda: award_many([(alice, 5), (bob, 0)], reason="x", idempotency_key="k"),
    )


# --- reverse -----------------------------------------------------------------------------


def test_reverse_posts_the_opposite_of_every_posting(alice, staff):
    original = award(alice, 40, reason="quiz", idempotency_key="quiz-1")
    undone = reverse(original, reason="wrong answer", idempotency_key="undo-1", actor=staff)
    assert (undone.kind, undone.reverses_id, undone.actor_id) == ("reversal", original.pk, staff.pk)
    assert lines(undone) == [(alice.pk, "", -40, 100, 3), (None, "issuance", 40, None, None)]
    assert balance(alice) == 100
    assert undone.event.data["reverses"] == original.pk


def test_reverse_of_a_transfer_and_of_a_spend_restores_every_wallet(alice, bob):
    moved = transfer(alice, bob, 30, reason="gift", idempotency_key="t")
    spent = spend(bob, 50, sink="shop", reason="shop", idempotency_key="s")
    reverse(spent, reason="refund", idempotency_key="r-1")
    reverse(moved, reason="mistake", idempotency_key="r-2")
    assert (balance(alice), balance(bob)) == (100, 100)


def test_reversing_twice_raises_already_reversed_and_writes_nothing(alice):
    original = award(alice, 40, reason="quiz", idempotency_key="quiz-1")
    reverse(original, reason="mistake", idempotency_key="undo-1")
    refused_writing_nothing(
        AlreadyReversed, lambda: reverse(original, reason="mistake", idempotency_key="undo-2")
    )
    assert balance(alice) == 100


def test_reversing_a_reversal_raises_invalid_reversal(alice):
    original = award(alice, 40, reason="quiz", idempotency_key="quiz-1")
    undone = reverse(original, reason="mistake", idempotency_key="undo-1")
    refused_writing_nothing(
        InvalidReversal, lambda: reverse(undone, reason="redo", idempotency_key="redo-1")
    )


def test_a_reversal_the_recipient_can_no_longer_cover_raises_insufficient_funds(alice):
    original = award(alice, 40, reason="quiz", idempotency_key="quiz-1")
    spend(alice, 120, sink="shop", reason="shop", idempotency_key="s")
    refused_writing_nothing(
        InsufficientFunds, lambda: reverse(original, reason="mistake", idempotency_key="undo-1")
    )
    assert not Transfer.objects.filter(reverses=original).exists()


def test_a_reversal_respects_the_recipients_holds(alice):
    original = award(alice, 40, reason="quiz", idempotency_key="quiz-1")
    place_hold(alice, 110)
    refused_writing_nothing(
        InsufficientFunds, lambda: reverse(original, reason="mistake", idempotency_key="undo-1")
    )


def test_reverse_needs_a_saved_transfer(alice):
    refused_writing_nothing(
        InvalidRequest, lambda: reverse(Transfer(), reason="x", idempotency_key="k")
    )


def test_the_same_key_reversing_another_transfer_raises_a_conflict(alice):
    first = award(alice, 40, reason="quiz", idempotency_key="quiz-1")
    second = award(alice, 40, reason="quiz", idempotency_key="quiz-2")
    reverse(first, reason="mistake", idempotency_key="undo")
    error = refused_writing_nothing(
        IdempotencyConflict, lambda: reverse(second, reason="mistake", idempotency_key="undo")
    )
    assert error.fields == ["transfer"]
