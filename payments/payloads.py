"""The data of the events payments publishes (`payments.*`), defined once.

One schema per family: a payment's every step (`payment_started`, `payment_completed`,
`payment_failed`, `payment_refunded`) carries the payment as it now is; a reading's
(`reading_begun`, `reading_finished`, `reading_abandoned`) carries its hold and, once
written, the reading. Questions, cards and interpretations stay out of the log: they are
the member's, and the dashboard reads them from the rows.
"""

from __future__ import annotations

from typing import TypedDict

from events.payloads import schema


@schema(
    "payments.payment_started",
    "payments.payment_completed",
    "payments.payment_failed",
    "payments.payment_refunded",
)
class PaymentChanged(TypedDict):
    payment_id: int
    member_id: int
    provider: str
    reference: str
    status: str
    amount: int  # money, minor units of `currency`
    currency: str  # ISO 4217
    credit_amount: int
    credit_currency: str
    transfer_id: int | None  # the credit
    refund_transfer_id: int | None
    written_off: int


def payment_changed(payment, credit_currency: str) -> PaymentChanged:
    return {
        "payment_id": payment.pk,
        "member_id": payment.member_id,
        "provider": payment.provider,
        "reference": payment.payment_reference,
        "status": payment.status,
        "amount": payment.amount,
        "currency": payment.currency,
        "credit_amount": payment.credit_amount,
        "credit_currency": credit_currency,
        "transfer_id": payment.transfer_id,
        "refund_transfer_id": payment.refund_transfer_id,
        "written_off": payment.written_off,
    }


@schema("payments.reading_begun", "payments.reading_finished", "payments.reading_abandoned")
class ReadingChanged(TypedDict):
    hold_id: int
    member_id: int
    spread: str
    price: int
    currency: str
    reading_id: int | None  # once finished
    transfer_id: int | None  # the capture that paid, once finished


def reading_changed(
    *,
    hold_id: int,
    member_id: int,
    spread: str,
    price: int,
    currency: str,
    reading_id: int | None = None,
    transfer_id: int | None = None,
) -> ReadingChanged:
    return {
        "hold_id": hold_id,
        "member_id": member_id,
        "spread": spread,
        "price": price,
        "currency": currency,
        "reading_id": reading_id,
        "transfer_id": transfer_id,
    }
