"""What each ledger action does, what it refuses, and that a refusal writes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.actions import register_member
from accounts.models import Member
from events.log import register_handler, unregister_handler
from events.models import Event
from ledger.actions import (
    award,
    award_many,
    capture,
    expire_holds,
    grant_achievement,
    hold,
    open_wallets,
    record_activity,
    release,
    reverse,
    spend,
    transfer,
)
from ledger.exceptions import (
    AchievementError,
    AlreadyReversed,
    HoldExpired,
    HoldNotPending,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
    InvalidRequest,
    InvalidReversal,
    UnknownCurrency,
)
from ledger.models import (
    Account,
    Achievement,
    AchievementRule,
    ActivityDay,
    Currency,
    Hold,
    MemberAchievement,
    Posting,
    Streak,
    Transfer,
)
from ledger.plans import MAX_AMOUNT
from tests.factories import MemberFactory
from tests.helpers import refused_writing_nothing, table_contents

pytestmark = pytest.mark.django_db

APPS = ("accounts", "events", "ledger")
POSTED = "ledger.transfer_posted"


def everything() -> dict[str, list[dict]]:
    return table_contents(*APPS)


def wallet(member, currency: str = "points") -> Account:
    return Account.objects.get(member=member, currency__code=currency)


def balance(member, currency: str = "points") -> int:
    return wallet(member, currency).balance


def lines(transfer: Transfer) -> list[tuple]:
    """A transfer's postings as (member id, system account name, amount, balance after,
    version), in the order written."""
    return [
        (p.account.member_id, p.account.name, p.amount, p.balance_after, p.version)
        for p in transfer.postings.select_related("account").order_by("id")
    ]


def statements(run) -> list[str]:
    """The SQL statements `run()` sent, savepoints aside."""
    with CaptureQueriesContext(connection) as captured:
        run()
    return [
        q["sql"]
        for q in captured.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT"))
    ]


def refused_before_any_statement(error, run) -> Exception:
    """`run()` raises `error` without sending one statement, and nothing changed."""
    before = everything()
    raised = []

    def attempt():
        with pytest.raises(error) as info:
            run()
        raised.append(info.value)

    assert statements(attempt) == []
    assert everything() == before
    return raised[0]


def in_one_hour() -> datetime:
    return timezone.now() + timedelta(hours=1)


def place_hold(member, amount: int = 30, key: str = "hold-1", **kwargs) -> Hold:
    kwargs.setdefault("expires_at", in_one_hour())
    return hold(
        member, amount, sink="reading", reason="tarot reading", idempotency_key=key, **kwargs
    )


@pytest.fixture
def seen():
    """Events as the post-commit handlers receive them."""
    received: list[Event] = []

    def handler(event):
        received.append(event)

    register_handler(handler)
    yield received
    unregister_handler(handler)


@pytest.fixture
def points(db) -> Currency:
    return Currency.objects.get(code="points")


@pytest.fixture
def gems(db) -> Currency:
    """A currency no registration opens a wallet in."""
    return Currency.objects.create(code="gems", name="Gems", opens_on_signup=False)


def achievement(code: str, *, rule=AchievementRule.GRANTED, **fields) -> Achievement:
    return Achievement.objects.create(
        code=code, name=code.replace("-", " ").title(), rule=rule, **fields
    )


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
    carol = MemberFactory(external_id="carol")
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
    carol = MemberFactory(external_id="carol")
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
    # Broadcasting them is the relay's (tests/events/test_relay.py, with real commits).


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


# --- registration: open_wallets ----------------------------------------------------------


def test_registration_opens_each_signup_wallet_and_pays_the_signup_bonus(alice):
    assert list(
        Account.objects.filter(member=alice)
        .order_by("currency__code")
        .values_list("currency__code", "balance", "held", "version")
    ) == [("credits", 0, 0, 0), ("points", 100, 0, 1)]
    bonus = Transfer.objects.get(idempotency_key=f"signup:{alice.pk}:points")
    assert (bonus.kind, bonus.reason) == ("bonus", "Welcome bonus")
    assert lines(bonus) == [(alice.pk, "", 100, 100, 1), (None, "issuance", -100, None, None)]
    assert Transfer.objects.filter(postings__account__member=alice).count() == 1


def test_a_referred_registration_pays_the_referrer_the_referral_bonus(alice, staff):
    newcomer = register_member(
        platform="web", external_id="new", referral_code=alice.referral_code, actor=staff
    ).member
    assert (balance(alice), balance(newcomer)) == (150, 100)
    referral = Transfer.objects.get(idempotency_key=f"referral:{newcomer.pk}:points")
    assert (referral.kind, referral.context, referral.actor_id) == (
        "referral_bonus",
        {"referred_member_id": newcomer.pk},
        staff.pk,
    )
    assert lines(referral) == [(alice.pk, "", 50, 150, 2), (None, "issuance", -50, None, None)]


def test_open_wallets_again_pays_nothing_twice(alice, bob):
    before = everything()
    wallets = open_wallets(alice, referrer=bob)
    # bob's referral bonus for alice is new; her signup bonus is not paid again.
    assert [w.currency.code for w in wallets] == ["points", "credits"]
    assert (balance(alice), balance(bob)) == (100, 150)
    after_first = everything()
    assert after_first != before
    open_wallets(alice, referrer=bob)
    assert everything() == after_first


def test_registration_follows_each_currencys_signup_settings(db, gems):
    Currency.objects.create(code="stars", name="Stars", signup_bonus=7, referral_bonus=3)
    first = MemberFactory(external_id="first")
    second = register_member(
        platform="web", external_id="second", referral_code=first.referral_code
    ).member
    assert not Account.objects.filter(currency=gems).exists()
    assert (balance(first, "stars"), balance(second, "stars")) == (10, 7)


def test_registration_without_signup_bonus_writes_no_transfer(db):
    Currency.objects.update(signup_bonus=0)
    member = MemberFactory(external_id="quiet")
    assert Account.objects.filter(member=member).count() == 2
    assert not Transfer.objects.exists()


# --- achievements ------------------------------------------------------------------------


def balance_achievement(points, threshold=150, reward=10, code="rich", **fields):
    return achievement(
        code,
        rule=AchievementRule.BALANCE,
        threshold=threshold,
        reward_amount=reward,
        reward_currency=points,
        **fields,
    )


def test_a_balance_achievement_is_granted_when_the_balance_reaches_it(alice, points):
    rich = balance_achievement(points)
    award(alice, 49, reason="x", idempotency_key="a")
    assert not MemberAchievement.objects.exists()
    award(alice, 1, reason="x", idempotency_key="b")
    grant = MemberAchievement.objects.get()
    assert (grant.member_id, grant.achievement_id) == (alice.pk, rich.pk)
    reward = grant.transfer
    assert (reward.kind, reward.idempotency_key, reward.context) == (
        "achievement",
        f"achievement:rich:{alice.pk}",
        {"achievement": "rich"},
    )
    assert lines(reward) == [(alice.pk, "", 10, 160, 4), (None, "issuance", -10, None, None)]
    assert balance(alice) == 160
    assert Event.objects.filter(kind="ledger.achievement_granted").count() == 1


def test_a_balance_achievement_is_paid_once(alice, points):
    balance_achievement(points)
    award(alice, 60, reason="x", idempotency_key="a")
    spend(alice, 100, sink="shop", reason="x", idempotency_key="b")
    award(alice, 90, reason="x", idempotency_key="c")
    assert MemberAchievement.objects.count() == 1
    assert Transfer.objects.filter(kind="achievement").count() == 1
    assert balance(alice) == 100 + 60 + 10 - 100 + 90


def test_a_transfer_grants_the_recipient_not_the_sender(alice, bob, points):
    balance_achievement(points)
    transfer(alice, bob, 50, reason="gift", idempotency_key="t")
    assert list(MemberAchievement.objects.values_list("member_id", flat=True)) == [bob.pk]


def test_a_reward_that_reaches_the_next_threshold_grants_that_one_too(alice, points):
    balance_achievement(points, threshold=150, reward=100, code="rich")
    balance_achievement(points, threshold=250, reward=0, code="richer")
    award(alice, 50, reason="x", idempotency_key="a")
    assert sorted(
        MemberAchievement.objects.filter(member=alice).values_list("achievement__code", flat=True)
    ) == ["rich", "richer"]
    assert balance(alice) == 250
    assert Event.objects.filter(kind="ledger.achievement_granted").count() == 2


def test_registration_grants_the_balance_achievements_its_bonus_reaches(db, points):
    balance_achievement(points, threshold=100, reward=5, code="welcome")
    member = MemberFactory(external_id="new")
    assert MemberAchievement.objects.filter(member=member).count() == 1
    assert balance(member) == 105


def test_balance_achievements_of_other_currencies_or_inactive_are_not_granted(alice, points):
    credits = Currency.objects.get(code="credits")
    achievement(
        "credit-rich",
        rule=AchievementRule.BALANCE,
        threshold=1,
        reward_amount=1,
        reward_currency=credits,
    )
    balance_achievement(points, code="dormant", is_active=False)
    award(alice, 100, reason="x", idempotency_key="a")
    assert not MemberAchievement.objects.exists()


def test_granting_an_achievement_twice_returns_the_first_grant_and_pays_once(alice, points):
    helper = achievement("helper", reward_amount=25, reward_currency=points)
    first = grant_achievement(alice, helper)
    before = everything()
    again = grant_achievement(alice, helper)
    assert again == first
    assert everything() == before
    assert balance(alice) == 125
    assert Transfer.objects.filter(kind="achievement").count() == 1


def test_an_achievement_without_reward_is_granted_without_transfer(alice):
    first_steps = achievement("first-steps")
    grant = grant_achievement(alice, first_steps)
    assert grant.transfer_id is None
    assert balance(alice) == 100
    event = Event.objects.get(kind="ledger.achievement_granted")
    assert event.data == {
        "member_id": alice.pk,
        "achievement": "first-steps",
        "name": "First Steps",
        "reward": 0,
        "currency": None,
        "transfer_id": None,
    }


def test_an_inactive_achievement_cannot_be_granted(alice, points):
    retired = achievement("retired", reward_amount=5, reward_currency=points, is_active=False)
    refused_writing_nothing(AchievementError, lambda: grant_achievement(alice, retired))


def test_an_unsaved_achievement_cannot_be_granted(alice):
    refused_writing_nothing(
        InvalidRequest, lambda: grant_achievement(alice, Achievement(code="ghost"))
    )


# --- activity and streaks ----------------------------------------------------------------

DAY = date(2024, 5, 1)


def days(n: int) -> date:
    return DAY + timedelta(days=n)


def streak_of(member) -> tuple[int, int, date | None]:
    streak = Streak.objects.get(member=member)
    return streak.current, streak.longest, streak.last_day


def test_the_first_activity_starts_a_streak(alice):
    streak = record_activity(alice, DAY)
    assert (streak.current, streak.longest, streak.last_day) == (1, 1, DAY)
    assert streak_of(alice) == (1, 1, DAY)


def test_record_activity_today_by_default(alice):
    record_activity(alice)
    assert streak_of(alice) == (1, 1, timezone.localdate())


def test_record_activity_is_idempotent_per_day(alice):
    record_activity(alice, DAY)
    before = everything()
    streak = record_activity(alice, DAY)
    assert (streak.current, streak.longest) == (1, 1)
    assert everything() == before
    assert ActivityDay.objects.filter(member=alice).count() == 1


def test_consecutive_days_grow_the_streak(alice):
    for n in range(3):
        record_activity(alice, days(n))
    assert streak_of(alice) == (3, 3, days(2))


def test_a_missed_day_starts_over_and_keeps_the_longest(alice):
    for n in (0, 1, 2, 4):
        record_activity(alice, days(n))
    assert streak_of(alice) == (1, 3, days(4))
    record_activity(alice, days(5))
    assert streak_of(alice) == (2, 3, days(5))


def test_a_late_day_that_closes_a_gap_recounts_the_streak(alice):
    record_activity(alice, days(0))
    record_activity(alice, days(2))
    assert streak_of(alice) == (1, 1, days(2))
    record_activity(alice, days(1))
    assert streak_of(alice) == (3, 3, days(2))


def test_a_late_day_before_the_current_run_keeps_the_current_streak(alice):
    for n in (0, 1, 2, 10, 11):
        record_activity(alice, days(n))
    record_activity(alice, days(5))
    assert streak_of(alice) == (2, 3, days(11))
    record_activity(alice, days(3))
    record_activity(alice, days(4))
    assert streak_of(alice) == (2, 6, days(11))


def test_activity_is_kept_per_member(alice, bob):
    record_activity(alice, days(0))
    record_activity(alice, days(1))
    record_activity(bob, days(1))
    assert (streak_of(alice)[0], streak_of(bob)[0]) == (2, 1)


def test_a_streak_achievement_is_granted_at_its_threshold(alice, points):
    achievement(
        "three-days",
        rule=AchievementRule.STREAK,
        threshold=3,
        reward_amount=20,
        reward_currency=points,
    )
    record_activity(alice, days(0))
    record_activity(alice, days(1))
    assert not MemberAchievement.objects.exists()
    record_activity(alice, days(2))
    grant = MemberAchievement.objects.get()
    assert (grant.member_id, grant.achievement.code) == (alice.pk, "three-days")
    assert balance(alice) == 120
    record_activity(alice, days(3))
    assert MemberAchievement.objects.count() == 1
    assert balance(alice) == 120


def test_a_late_day_that_completes_a_streak_grants_its_achievement(alice):
    achievement("three-days", rule=AchievementRule.STREAK, threshold=3)
    record_activity(alice, days(0))
    record_activity(alice, days(2))
    record_activity(alice, days(1))
    assert MemberAchievement.objects.filter(member=alice).count() == 1


@pytest.mark.parametrize(
    "day",
    [
        "2024-05-01",
        20240501,
        "",
        0,
        datetime(2024, 5, 2, 12, 0),
        datetime(2024, 5, 2, 12, 0, tzinfo=UTC),
    ],
    ids=["text", "number", "empty", "zero", "datetime", "aware-datetime"],
)
def test_record_activity_refuses_a_day_that_is_not_a_date(alice, day):
    record_activity(alice, DAY)
    refused_writing_nothing(InvalidRequest, lambda: record_activity(alice, day))


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
