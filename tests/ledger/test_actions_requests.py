"""Malformed requests refused before any statement, idempotency keys and their conflicts,
and odd input the database cannot store."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Member
from ledger.actions import award, award_many, capture, hold, reverse, spend, transfer
from ledger.exceptions import IdempotencyConflict, InvalidAmount, InvalidRequest, UnknownCurrency
from ledger.models import Currency
from ledger.plans import MAX_AMOUNT
from tests.factories import MemberFactory
from tests.helpers import refused_writing_nothing, table_contents
from tests.ledger.helpers import everything, in_one_hour, place_hold, refused_before_any_statement

pytestmark = pytest.mark.django_db

# --- validation: refused before any statement --------------------------------------------


def amount_calls(alice, bob, amount):
    return {
        "award": lambda: award(alice, amount, reason="x", idempotency_key="k"),
        "spend": lambda: spend(alice, amount, sink="shop", reason="x", idempotency_key="k"),
        "transfer": lambda: transfer(alice, bob, amount, reason="x", idempotency_key="k"),
        "award_many": lambda: award_many([(alice, amount)], reason="x", idempotency_key="k"),
        "hold": lambda: place_hold(alice, amount),
    }


@pytest.mark.parametrize("action", ["award", "spend", "transfer", "award_many", "hold"])
@pytest.mark.parametrize(
    "amount",
    [0, -1, 1.5, 5.0, True, "5", Decimal("5"), None, MAX_AMOUNT + 1],
    ids=repr,
)
def test_an_amount_that_is_not_a_positive_integer_is_refused_before_any_write(
    alice, bob, action, amount
):
    refused_before_any_statement(InvalidAmount, amount_calls(alice, bob, amount)[action])


def request_calls(alice, bob, key="k", reason="x", sink="shop", context=None):
    return {
        "award": lambda: award(alice, 5, reason=reason, idempotency_key=key, context=context),
        "spend": lambda: spend(
            alice, 5, sink=sink, reason=reason, idempotency_key=key, context=context
        ),
        "transfer": lambda: transfer(
            alice, bob, 5, reason=reason, idempotency_key=key, context=context
        ),
        "award_many": lambda: award_many(
            [(alice, 5)], reason=reason, idempotency_key=key, context=context
        ),
        "hold": lambda: hold(
            alice,
            5,
            sink=sink,
            reason=reason,
            idempotency_key=key,
            expires_at=in_one_hour(),
            context=context,
        ),
    }


ACTIONS = ["award", "spend", "transfer", "award_many", "hold"]


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("key", ["", "   ", None, 42, "k" * 256, "nul\x00key"], ids=repr)
def test_a_blank_or_malformed_idempotency_key_is_refused(alice, bob, action, key):
    refused_before_any_statement(InvalidRequest, request_calls(alice, bob, key=key)[action])


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("reason", ["", "  \t ", None, "r" * 256, "nul\x00"], ids=repr)
def test_a_blank_or_malformed_reason_is_refused(alice, bob, action, reason):
    refused_before_any_statement(InvalidRequest, request_calls(alice, bob, reason=reason)[action])


@pytest.mark.parametrize("action", ["spend", "hold"])
@pytest.mark.parametrize(
    "sink", ["", "sink:", "Reading", "two words", "shop/1", "s" * 60, None, 7], ids=repr
)
def test_a_malformed_sink_is_refused(alice, bob, action, sink):
    refused_before_any_statement(InvalidRequest, request_calls(alice, bob, sink=sink)[action])


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("context", [["list"], "text", {"when": object()}], ids=repr)
def test_a_context_that_is_not_a_json_object_is_refused(alice, bob, action, context):
    refused_before_any_statement(InvalidRequest, request_calls(alice, bob, context=context)[action])


@pytest.mark.parametrize(
    ("action", "kind"),
    [
        (award, "spend"),
        (award, "transfer"),
        (award, "reversal"),
        (award, "gift"),
        (award, None),
    ],
)
def test_award_refuses_a_kind_that_is_not_a_payment(alice, action, kind):
    refused_before_any_statement(
        InvalidRequest, lambda: action(alice, 5, kind=kind, reason="x", idempotency_key="k")
    )


@pytest.mark.parametrize("kind", ["award", "refund", "reversal", "transfer", "gift"])
def test_spend_refuses_a_kind_that_is_not_a_spending(alice, kind):
    refused_before_any_statement(
        InvalidRequest,
        lambda: spend(alice, 5, kind=kind, sink="shop", reason="x", idempotency_key="k"),
    )


@pytest.mark.parametrize("action", ACTIONS)
def test_an_unsaved_member_is_refused(bob, action):
    refused_before_any_statement(InvalidRequest, request_calls(Member(), bob)[action])


@pytest.mark.parametrize("action", ACTIONS)
def test_an_unknown_currency_raises_and_writes_nothing(alice, bob, action):
    calls = {
        "award": lambda: award(alice, 5, currency="doubloons", reason="x", idempotency_key="k"),
        "spend": lambda: spend(
            alice, 5, currency="doubloons", sink="shop", reason="x", idempotency_key="k"
        ),
        "transfer": lambda: transfer(
            alice, bob, 5, currency="doubloons", reason="x", idempotency_key="k"
        ),
        "award_many": lambda: award_many(
            [(alice, 5)], currency="doubloons", reason="x", idempotency_key="k"
        ),
        "hold": lambda: place_hold(alice, 5, currency="doubloons"),
    }
    refused_writing_nothing(UnknownCurrency, calls[action])


# --- idempotency -------------------------------------------------------------------------


def first_calls(alice, bob):
    """Each action's first call, and a repeat that must answer the same."""
    original = award(alice, 10, reason="setup", idempotency_key="setup")
    return {
        "award": lambda: award(alice, 25, reason="quiz", idempotency_key="k"),
        "spend": lambda: spend(alice, 25, sink="shop", reason="shop", idempotency_key="k"),
        "transfer": lambda: transfer(alice, bob, 25, reason="gift", idempotency_key="k"),
        "award_many": lambda: award_many([(alice, 5), (bob, 6)], reason="x", idempotency_key="k"),
        "reverse": lambda: reverse(original, reason="undo", idempotency_key="k"),
    }


@pytest.mark.parametrize("action", ["award", "spend", "transfer", "award_many", "reverse"])
def test_the_same_key_and_request_returns_the_same_transfer_and_writes_nothing(
    alice, bob, staff, action
):
    call = first_calls(alice, bob)[action]
    first = call()
    before = everything()
    again = call()
    assert again == first
    assert (first.replayed, again.replayed) == (False, True)
    assert again.event is None
    assert everything() == before


def test_the_actor_is_not_part_of_the_request(alice, staff):
    first = award(alice, 25, reason="quiz", idempotency_key="k")
    again = award(alice, 25, reason="quiz", idempotency_key="k", actor=staff)
    assert (again, again.actor_id) == (first, None)


@pytest.mark.parametrize(
    ("repeat", "fields"),
    [
        (lambda a, b: award(a, 30, reason="quiz", idempotency_key="k"), ["amount"]),
        (lambda a, b: award(b, 25, reason="quiz", idempotency_key="k"), ["member"]),
        (lambda a, b: award(b, 30, reason="quiz", idempotency_key="k"), ["member", "amount"]),
        (lambda a, b: award(a, 25, reason="trivia", idempotency_key="k"), ["reason"]),
        (lambda a, b: award(a, 25, kind="bonus", reason="quiz", idempotency_key="k"), ["kind"]),
        (
            lambda a, b: award(a, 25, currency="credits", reason="quiz", idempotency_key="k"),
            ["currency"],
        ),
        (
            lambda a, b: award(a, 25, reason="quiz", idempotency_key="k", context={"n": 2}),
            ["context"],
        ),
        (
            lambda a, b: spend(a, 25, sink="shop", reason="quiz", idempotency_key="k"),
            ["kind", "amount", "sink"],
        ),
    ],
    ids=["amount", "member", "member+amount", "reason", "kind", "currency", "context", "spend"],
)
def test_the_same_key_for_another_award_raises_a_conflict_naming_the_difference(
    alice, bob, repeat, fields
):
    first = award(alice, 25, reason="quiz", idempotency_key="k")
    error = refused_writing_nothing(IdempotencyConflict, lambda: repeat(alice, bob))
    assert error.fields == fields
    assert (error.key, error.original) == ("k", first)


@pytest.mark.parametrize(
    ("repeat", "fields"),
    [
        (lambda a, b: spend(a, 20, sink="reading", reason="r", idempotency_key="k"), ["amount"]),
        (lambda a, b: spend(a, 10, sink="shop", reason="r", idempotency_key="k"), ["sink"]),
        (lambda a, b: spend(b, 10, sink="reading", reason="r", idempotency_key="k"), ["member"]),
        (lambda a, b: spend(a, 10, sink="reading", reason="s", idempotency_key="k"), ["reason"]),
    ],
    ids=["amount", "sink", "member", "reason"],
)
def test_the_same_key_for_another_spend_raises_a_conflict_naming_the_difference(
    alice, bob, repeat, fields
):
    spend(alice, 10, sink="reading", reason="r", idempotency_key="k")
    error = refused_writing_nothing(IdempotencyConflict, lambda: repeat(alice, bob))
    assert error.fields == fields


def test_the_same_key_for_another_transfer_raises_a_conflict_naming_the_difference(alice, bob):
    carol = MemberFactory(platform="web", external_id="carol")
    transfer(alice, bob, 10, reason="gift", idempotency_key="k")
    error = refused_writing_nothing(
        IdempotencyConflict, lambda: transfer(alice, carol, 10, reason="gift", idempotency_key="k")
    )
    assert error.fields == ["member"]


def test_a_conflicting_request_in_a_new_currency_opens_no_account(alice, gems):
    award(alice, 25, reason="quiz", idempotency_key="k")
    error = refused_writing_nothing(
        IdempotencyConflict,
        lambda: award(alice, 25, currency="gems", reason="quiz", idempotency_key="k"),
    )
    assert error.fields == ["currency"]


@pytest.mark.parametrize(
    "key", ["signup:1:points", "referral:1:points", "achievement:rich:1", "hold:1:capture"]
)
def test_a_caller_cannot_use_the_keys_concord_derives_itself(alice, key):
    before = table_contents()
    with pytest.raises(InvalidRequest, match="Concord's own"):
        award(alice, 5, reason="sneaky", idempotency_key=key)
    assert table_contents() == before


def test_hold_keys_may_start_like_a_capture_key(alice):
    held = hold(
        alice,
        5,
        sink="reading",
        reason="reading",
        idempotency_key="hold:order-7",
        expires_at=timezone.now() + timedelta(minutes=5),
    )
    assert held.idempotency_key == "hold:order-7"


@pytest.mark.django_db(transaction=True)
def test_the_default_currencies_exist_after_a_flush():
    # Transactional tests (and `manage.py flush`) empty every table; post_migrate
    # recreates points and credits, as contenttypes recreates its rows.
    from django.core.management import call_command

    call_command("flush", "--no-input", verbosity=0)
    assert set(Currency.objects.values_list("code", flat=True)) >= {"points", "credits"}
    assert Currency.objects.get(code="points").signup_bonus == 100


@pytest.mark.parametrize(
    "context",
    [{"x": "a\x00b"}, {"x": float("nan")}, {"x": float("inf")}],
    ids=["nul", "nan", "infinity"],
)
def test_a_context_the_database_cannot_store_is_an_invalid_request(alice, context):
    before = table_contents()
    with pytest.raises(InvalidRequest):
        award(alice, 5, reason="quiz", idempotency_key="ctx", context=context)
    assert table_contents() == before


@pytest.mark.parametrize(
    "currency", ["a\x00", "Points", "", 5], ids=["nul", "upper", "blank", "int"]
)
def test_a_currency_code_that_cannot_exist_is_unknown(alice, currency):
    before = table_contents()
    with pytest.raises(UnknownCurrency):
        award(alice, 5, currency=currency, reason="quiz", idempotency_key="cur")
    assert table_contents() == before


def test_awarding_a_member_that_does_not_exist_is_an_invalid_request(alice):
    before = table_contents()
    with pytest.raises(InvalidRequest, match="does not exist"):
        award(Member(pk=10**9), 5, reason="quiz", idempotency_key="ghost")
    assert table_contents() == before


def test_capturing_a_hold_twice_answers_as_a_replay(alice):
    held = hold(
        alice,
        5,
        sink="reading",
        reason="reading",
        idempotency_key="h-twice",
        expires_at=timezone.now() + timedelta(minutes=5),
    )
    first = capture(held)
    again = capture(held)
    assert (again.pk, again.replayed, again.balances) == (first.pk, True, {})
    assert first.replayed is False


@pytest.mark.parametrize("key", ["admin-reverse:1", "admin-adjust:token:1"])
def test_a_caller_cannot_take_the_admins_keys(alice, key):
    with pytest.raises(InvalidRequest, match="Concord's own"):
        award(alice, 1, reason="sneaky", idempotency_key=key)
