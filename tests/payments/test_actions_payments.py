"""Payments: start, complete once, fail with a reason, refund (or refuse to overdraw)."""

from __future__ import annotations

import pytest

from events.models import Event
from ledger.actions import spend
from ledger.models import Posting, Transfer
from payments.actions import complete_payment, fail_payment, refund_payment, start_payment
from payments.exceptions import (
    InvalidPayment,
    PaymentAlreadyCompleted,
    PaymentConflict,
    PaymentFailed,
    PaymentNotFound,
    PaymentNotRefundable,
    RefundWouldOverdraw,
)
from payments.models import Payment
from tests.helpers import refused_writing_nothing
from tests.payments.helpers import credits, start

pytestmark = pytest.mark.django_db


def kinds_after(seq: int) -> list[str]:
    return list(Event.objects.filter(seq__gt=seq).order_by("seq").values_list("kind", flat=True))


def last_seq() -> int:
    return Event.objects.order_by("-seq").values_list("seq", flat=True).first() or 0


def test_starting_a_payment_records_a_pending_attempt_and_its_event(alice):
    before = last_seq()
    payment = start(alice)
    assert (payment.status, payment.amount, payment.currency, payment.credit_amount) == (
        "pending",
        999,
        "EUR",
        1000,
    )
    assert (payment.credit_currency.code, payment.transfer_id, payment.replayed) == (
        "credits",
        None,
        False,
    )
    assert credits(alice) == (0, 0)
    assert kinds_after(before) == ["payments.payment_started"]


def test_starting_the_same_reference_again_returns_it(alice):
    first = start(alice)
    again = start(alice)
    assert (again.pk, again.replayed) == (first.pk, True)
    assert Payment.objects.count() == 1


def test_starting_a_reference_with_other_terms_is_refused(alice, bob):
    start(alice)
    error = refused_writing_nothing(PaymentConflict, lambda: start(alice, amount=1))
    assert "amount" in str(error)
    refused_writing_nothing(PaymentConflict, lambda: start(bob))


def test_the_same_reference_at_another_provider_is_another_payment(alice):
    start(alice)
    other = start(alice, provider="paypal")
    assert Payment.objects.count() == 2
    assert other.provider == "paypal"


@pytest.mark.parametrize(
    "terms",
    [
        {"amount": 0},
        {"amount": -5},
        {"amount": 1.5},
        {"currency": "eur"},
        {"currency": "EURO"},
        {"credit_amount": 0},
        {"credit_currency": "nope"},
        {"provider": "Stripe Inc"},
        {"reference": "  "},
    ],
)
def test_malformed_payments_are_refused(alice, terms):
    refused_writing_nothing(InvalidPayment, lambda: start(alice, **terms))


def test_completing_credits_the_wallet_through_the_ledger(alice):
    start(alice)
    before = last_seq()
    payment = complete_payment("stripe", "pi_2")
    assert (payment.status, payment.replayed) == ("completed", False)
    assert payment.completed_at is not None
    assert credits(alice) == (1000, 0)
    credit = Transfer.objects.get(pk=payment.transfer_id)
    assert credit.idempotency_key == "payment:stripe:pi_2"
    assert credit.context == {"payment_id": payment.pk}
    assert kinds_after(before) == ["ledger.transfer_posted", "payments.payment_completed"]


def test_a_repeated_callback_pays_nothing_more(alice):
    start(alice)
    first = complete_payment("stripe", "pi_2")
    before = last_seq()
    again = complete_payment("stripe", "pi_2")
    assert (again.pk, again.transfer_id, again.replayed) == (first.pk, first.transfer_id, True)
    assert credits(alice) == (1000, 0)
    assert kinds_after(before) == []


def test_a_callback_for_an_unknown_payment_is_refused(alice):
    refused_writing_nothing(PaymentNotFound, lambda: complete_payment("stripe", "pi_404"))


def test_failing_records_why_and_keeps_the_row(alice):
    start(alice)
    before = last_seq()
    failed = fail_payment("stripe", "pi_2", error_message="card_declined")
    assert (failed.status, failed.error_message, failed.transfer_id) == (
        "failed",
        "card_declined",
        None,
    )
    assert failed.failed_at is not None
    assert kinds_after(before) == ["payments.payment_failed"]
    assert Payment.objects.filter(status="failed").count() == 1
    again = fail_payment("stripe", "pi_2", error_message="card_declined")
    assert again.replayed


def test_a_success_callback_for_a_failed_payment_is_refused(alice):
    start(alice)
    fail_payment("stripe", "pi_2", error_message="card_declined")
    refused_writing_nothing(PaymentFailed, lambda: complete_payment("stripe", "pi_2"))
    assert credits(alice) == (0, 0)


def test_a_completed_payment_cannot_fail(paid):
    refused_writing_nothing(
        PaymentAlreadyCompleted,
        lambda: fail_payment("stripe", "pi_1", error_message="too late"),
    )


def test_failing_needs_a_reason(alice):
    start(alice)
    refused_writing_nothing(
        InvalidPayment, lambda: fail_payment("stripe", "pi_2", error_message="")
    )


def test_refunding_reverses_the_credit(paid, alice):
    before = last_seq()
    refunded = refund_payment("stripe", "pi_1", reason="Chargeback")
    assert (refunded.status, refunded.written_off, refunded.refund_reason) == (
        "refunded",
        0,
        "Chargeback",
    )
    reversal = Transfer.objects.get(pk=refunded.refund_transfer_id)
    assert (reversal.kind, reversal.reverses_id) == ("reversal", paid.transfer_id)
    assert credits(alice) == (0, 0)
    assert kinds_after(before) == ["ledger.transfer_posted", "payments.payment_refunded"]
    again = refund_payment("stripe", "pi_1", reason="Chargeback")
    assert again.replayed
    assert credits(alice) == (0, 0)


def test_a_refund_that_would_overdraw_the_wallet_is_refused(paid, alice):
    spend(alice, 300, currency="credits", sink="shop", reason="Deck", idempotency_key="deck")
    error = refused_writing_nothing(
        RefundWouldOverdraw, lambda: refund_payment("stripe", "pi_1", reason="Chargeback")
    )
    assert "200" in str(error)
    assert "clamp" in str(error)


def test_a_clamped_refund_takes_what_is_there_and_writes_off_the_rest(paid, alice):
    spend(alice, 300, currency="credits", sink="shop", reason="Deck", idempotency_key="deck")
    refunded = refund_payment("stripe", "pi_1", reason="Chargeback", settle="clamp")
    assert (refunded.status, refunded.written_off) == ("refunded", 300)
    assert credits(alice) == (0, 0)
    taken = Posting.objects.get(transfer_id=refunded.refund_transfer_id, amount__lt=0)
    assert taken.amount == -200


def test_a_clamped_refund_of_a_spent_credit_writes_it_all_off(paid, alice):
    spend(alice, 500, currency="credits", sink="shop", reason="Deck", idempotency_key="deck")
    refunded = refund_payment("stripe", "pi_1", reason="Chargeback", settle="clamp")
    assert (refunded.written_off, refunded.refund_transfer_id) == (500, None)


def test_only_a_completed_payment_is_refunded(alice):
    start(alice)
    refused_writing_nothing(
        PaymentNotRefundable, lambda: refund_payment("stripe", "pi_2", reason="x")
    )


def test_a_refund_settles_only_as_told(paid):
    refused_writing_nothing(
        InvalidPayment, lambda: refund_payment("stripe", "pi_1", reason="x", settle="debt")
    )


def test_a_refunded_payment_cannot_complete_again(paid, alice):
    refund_payment("stripe", "pi_1", reason="Chargeback")
    again = complete_payment("stripe", "pi_1")
    assert (again.status, again.replayed) == ("refunded", True)
    assert credits(alice) == (0, 0)


def test_start_payment_is_the_only_start(alice):
    start_payment(
        alice, provider="stripe", reference="x", amount=1, currency="USD", credit_amount=1
    )
    assert Payment.objects.get().currency == "USD"
