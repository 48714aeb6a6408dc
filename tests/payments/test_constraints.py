"""The rules of payments and readings the database holds, proven with raw SQL that skips
the actions. CHECKs on both backends; the triggers (PostgreSQL) after them."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from ledger.actions import award, capture
from payments.actions import begin_reading, finish_reading
from payments.models import Payment
from tests.helpers import insert, refused, sql
from tests.ledger.rows import currency_id, signup_transfer

pytestmark = pytest.mark.django_db
NOW = timezone.now()


def payment_row(member, **overrides) -> tuple[str, list]:
    values = {
        "provider": "stripe",
        "payment_reference": "raw-1",
        "member_id": member.pk,
        "amount": 499,
        "currency": "EUR",
        "credit_currency_id": currency_id("credits"),
        "credit_amount": 500,
        "status": "pending",
        "error_message": "",
        "created_at": NOW,
        "completed_at": None,
        "failed_at": None,
        "refunded_at": None,
        "transfer_id": None,
        "refund_transfer_id": None,
        "refund_reason": "",
        "written_off": 0,
        **overrides,
    }
    return insert("payments_payment", **values)


def reading_row(member, **overrides) -> tuple[str, list]:
    values = {
        "member_id": member.pk,
        "spread": "single_card",
        "question": "",
        "cards": '["The Sun"]',
        "interpretation": "Yes.",
        "created_at": NOW,
        "hold_id": 999_999,
        "transfer_id": 999_999,
        **overrides,
    }
    return insert("payments_reading", **values)


def settled(bypass, table: str) -> None:
    """Rows in a settled state cannot be inserted while the triggers run (PostgreSQL):
    switch them off, so the CHECK under test is what refuses."""
    bypass.lift(table)


# --- payments: CHECKs --------------------------------------------------------------------


def test_a_well_formed_payment_row_is_accepted(alice):
    sql(*payment_row(alice))
    assert Payment.objects.get().status == "pending"


@pytest.mark.parametrize(
    ("overrides", "constraint"),
    [
        ({"amount": 0}, "payments_payment_amount_positive"),
        ({"amount": -1}, "payments_payment_amount_positive"),
        ({"credit_amount": 0}, "payments_payment_credit_positive"),
        ({"currency": "eur"}, "payments_payment_currency_iso"),
        ({"currency": "EU"}, "payments_payment_currency_iso"),
        ({"provider": "Stripe"}, "payments_payment_provider_format"),
        ({"payment_reference": ""}, "payments_payment_reference_not_blank"),
        ({"completed_at": NOW}, "payments_payment_fields_match_status"),
        ({"error_message": "why"}, "payments_payment_fields_match_status"),
        ({"written_off": 5}, "payments_payment_refund_when_refunded"),
        ({"refund_reason": "x"}, "payments_payment_refund_when_refunded"),
    ],
)
def test_a_pending_payment_holds_its_rules(alice, overrides, constraint):
    refused(*payment_row(alice, **overrides), constraint=constraint)


def test_a_reference_is_unique_per_provider(alice):
    sql(*payment_row(alice))
    sql(*payment_row(alice, provider="paypal"))
    refused(*payment_row(alice), constraint="payments_payment_reference_unique", unique=True)


def _credit(alice) -> int:
    return signup_transfer(alice).pk


@pytest.mark.parametrize(
    ("overrides", "constraint"),
    [
        ({"status": "frozen"}, "payments_payment_fields_match_status"),
        ({"status": "completed"}, "payments_payment_fields_match_status"),  # no credit
        ({"status": "failed", "failed_at": NOW}, "payments_payment_fields_match_status"),
        ({"status": "failed", "error_message": "x"}, "payments_payment_fields_match_status"),
    ],
)
def test_each_status_has_its_fields(alice, bypass, overrides, constraint):
    settled(bypass, "payments_payment")
    refused(*payment_row(alice, **overrides), constraint=constraint)


def test_a_refunded_payment_records_its_refund(alice, bypass):
    settled(bypass, "payments_payment")
    refunded = {
        "status": "refunded",
        "completed_at": NOW,
        "transfer_id": _credit(alice),
        "refunded_at": NOW,
        "refund_reason": "Chargeback",
    }
    refused(  # neither a refund transfer nor all of it written off
        *payment_row(alice, **refunded), constraint="payments_payment_refund_when_refunded"
    )
    other = award(alice, 1, reason="x", idempotency_key="other").pk
    refused(
        *payment_row(alice, **refunded, refund_transfer_id=other, written_off=501),
        constraint="payments_payment_written_off_range",
    )
    refused(
        *payment_row(alice, **refunded, refund_transfer_id=_credit(alice)),
        constraint="payments_payment_refund_not_credit",
    )
    sql(*payment_row(alice, **refunded, written_off=500))  # all written off: accepted


# --- readings: CHECKs --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "constraint"),
    [
        ({"spread": "tea_leaves"}, "payments_reading_spread_valid"),
        ({"cards": "[]"}, "payments_reading_cards_drawn"),
        ({"cards": '"The Sun"'}, "payments_reading_cards_drawn"),
        ({"cards": '{"card": "The Sun"}'}, "payments_reading_cards_drawn"),
        ({"interpretation": ""}, "payments_reading_interpretation_not_blank"),
    ],
)
def test_a_reading_holds_its_rules(alice, bypass, overrides, constraint):
    settled(bypass, "payments_reading")
    refused(*reading_row(alice, **overrides), constraint=constraint)


# --- triggers (PostgreSQL) ----------------------------------------------------------------


@pytest.fixture
def pending(alice) -> int:
    (row,) = sql(*payment_row(alice, returning="id"))
    return row[0]


@pytest.mark.postgres
def test_a_payment_starts_pending(alice):
    refused(
        *payment_row(alice, status="failed", failed_at=NOW, error_message="x"),
        says="a payment starts pending",
    )


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("assignments", "says"),
    [
        (
            "status = 'refunded', refunded_at = now(), refund_reason = 'x', written_off = 500",
            "pending -> refunded is not a legal transition",
        ),
        ("amount = 1", "its terms are fixed"),
        ("member_id = member_id + 1", "its terms are fixed"),
        ("credit_amount = 1", "its terms are fixed"),
    ],
)
def test_a_payment_moves_only_along_its_transitions(pending, assignments, says):
    refused(f"UPDATE payments_payment SET {assignments} WHERE id = %s", [pending], says=says)


@pytest.mark.postgres
def test_a_failed_payment_stays_failed(pending):
    sql(
        "UPDATE payments_payment SET status = 'failed', failed_at = now(), error_message = 'no'"
        " WHERE id = %s",
        [pending],
    )
    refused(
        "UPDATE payments_payment SET status = 'pending', failed_at = NULL, error_message = ''"
        " WHERE id = %s",
        [pending],
        says="failed -> pending is not a legal transition",
    )
    refused(
        "UPDATE payments_payment SET error_message = 'other' WHERE id = %s",
        [pending],
        says="a failed payment is settled",
    )


@pytest.mark.postgres
def test_a_payment_is_never_deleted(pending):
    refused("DELETE FROM payments_payment WHERE id = %s", [pending], says="never deleted")


@pytest.mark.postgres
def test_a_completed_payment_credits_exactly_its_credit(alice, pending):
    # The signup bonus moved points, not 500 credits, into the wallet.
    refused(
        "UPDATE payments_payment SET status = 'completed', completed_at = now(),"
        " transfer_id = %s WHERE id = %s",
        [_credit(alice), pending],
        says="does not credit 500",
    )


@pytest.mark.postgres
def test_a_refund_takes_back_the_credit_less_what_was_written_off(alice, paid):
    refused(
        "UPDATE payments_payment SET status = 'refunded', refunded_at = now(),"
        " refund_reason = 'x', refund_transfer_id = %s WHERE id = %s",
        [_credit(alice), paid.pk],
        says="the refund does not take back 500",
    )
    refused(
        "UPDATE payments_payment SET transfer_id = %s WHERE id = %s",
        [_credit(alice), paid.pk],
        says="a completed payment is settled",
    )


@pytest.fixture
def finished(reader):
    held = begin_reading(reader, spread="yes_no", price=10, idempotency_key="k")
    return finish_reading(held, cards=["The Sun"], interpretation="Yes.")


@pytest.mark.postgres
def test_a_reading_needs_its_captured_hold(reader, finished):
    refused(
        *reading_row(reader, hold_id=finished.hold_id, transfer_id=_credit(reader)),
        says="a reading needs its hold",
    )
    held = begin_reading(reader, spread="yes_no", price=10, idempotency_key="k2")
    refused(  # pending, not captured
        *reading_row(reader, hold_id=held.pk, transfer_id=_credit(reader)),
        says="a reading needs its hold",
    )


@pytest.mark.postgres
def test_a_reading_is_never_changed_or_deleted(finished):
    refused(
        "UPDATE payments_reading SET interpretation = 'No.' WHERE id = %s",
        [finished.pk],
        says="never changed or deleted",
    )
    refused(
        "DELETE FROM payments_reading WHERE id = %s", [finished.pk], says="never changed or deleted"
    )


@pytest.mark.postgres
def test_a_reading_hold_captured_without_its_reading_is_refused_at_commit(reader):
    held = begin_reading(reader, spread="yes_no", price=10, idempotency_key="k")
    with pytest.raises(IntegrityError, match="paid for and never written"), transaction.atomic():
        capture(held)  # the ledger's action, going around finish_reading
        sql("SET CONSTRAINTS ALL IMMEDIATE")
    sql("SET CONSTRAINTS ALL DEFERRED")
    held.refresh_from_db()
    assert held.status == "pending"
