"""Payments and Tarot readings: the `payments.actions` every other door calls, with the
key's actor. A provider's callback names the payment by provider and reference, as the
provider does. These move credits, so they take the ledger's scopes (`ledger:write`,
`ledger:read`), and every writing POST requires an Idempotency-Key."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.http import HttpRequest
from ninja import Router, Schema
from pydantic import Field, StrictInt

from accounts.models import Member
from api import idempotency
from api.auth import scope
from api.problems import Problem
from api.routes.common import get_or_404
from api.routes.ledger import HoldOut, NoBody, hold_data
from api.schemas import Amount, Currency, Id, PathId, Reason, text
from ledger.models import Hold
from payments import actions
from payments.models import Payment, Reading

router = Router(tags=["payments"])
READING_MAX_SECONDS = 24 * 3600


class PaymentRef(Schema):
    provider: text(32, 1)
    reference: text(255, 1)


class StartIn(PaymentRef):
    member_id: Id
    amount: Amount
    currency: text(3, 3)
    credit_amount: Amount
    credit_currency: Currency = "credits"


class FailIn(PaymentRef):
    error_message: text(1000, 1)


class RefundIn(PaymentRef):
    reason: Reason
    settle: text(8, 1) | None = None


class PaymentOut(Schema):
    id: int
    provider: str
    reference: str
    member_id: int
    amount: int
    currency: str
    credit_amount: int
    credit_currency: str
    status: str
    error_message: str
    created_at: datetime
    completed_at: datetime | None
    transfer_id: int | None
    refund_transfer_id: int | None
    written_off: int


class BeginIn(Schema):
    member_id: Id
    spread: text(32, 1)
    question: text(1000) = ""
    price: Amount
    currency: Currency = "credits"
    expires_in_seconds: StrictInt = Field(900, ge=1, le=READING_MAX_SECONDS)


class FinishIn(Schema):
    cards: list[text(100, 1)] = Field(min_length=1, max_length=78)
    interpretation: text(20000, 1)


class ReadingOut(Schema):
    id: int
    member_id: int
    spread: str
    question: str
    cards: list[str]
    interpretation: str
    created_at: datetime
    hold_id: int
    transfer_id: int


def payment_data(payment: Payment) -> dict:
    payment = Payment.objects.select_related("credit_currency").get(pk=payment.pk)
    return PaymentOut(
        id=payment.pk,
        provider=payment.provider,
        reference=payment.payment_reference,
        member_id=payment.member_id,
        amount=payment.amount,
        currency=payment.currency,
        credit_amount=payment.credit_amount,
        credit_currency=payment.credit_currency.code,
        status=payment.status,
        error_message=payment.error_message,
        created_at=payment.created_at,
        completed_at=payment.completed_at,
        transfer_id=payment.transfer_id,
        refund_transfer_id=payment.refund_transfer_id,
        written_off=payment.written_off,
    ).model_dump(mode="json")


def reading_data(reading: Reading) -> dict:
    return ReadingOut(
        id=reading.pk,
        member_id=reading.member_id,
        spread=reading.spread,
        question=reading.question,
        cards=reading.cards,
        interpretation=reading.interpretation,
        created_at=reading.created_at,
        hold_id=reading.hold_id,
        transfer_id=reading.transfer_id,
    ).model_dump(mode="json")


def _member(member_id: int) -> Member:
    return get_or_404(Member.objects.only("pk"), member_id, "member")


def _write(request, payload, work):
    body = payload.model_dump(mode="json") if payload is not None else {}
    return idempotency.write(request, body, work, moves_value=True)


@router.post(
    "/start",
    auth=scope("ledger:write"),
    response={201: PaymentOut},
    summary="Record a payment attempt at a provider (pending until its callback)",
    openapi_extra=idempotency.REQUIRED,
)
def start(request: HttpRequest, payload: StartIn):
    def work():
        payment = actions.start_payment(
            _member(payload.member_id),
            provider=payload.provider,
            reference=payload.reference,
            amount=payload.amount,
            currency=payload.currency,
            credit_amount=payload.credit_amount,
            credit_currency=payload.credit_currency,
            actor=request.auth.actor,
        )
        return 201, payment_data(payment)

    return _write(request, payload, work)


@router.post(
    "/complete",
    auth=scope("ledger:write"),
    response={200: PaymentOut},
    summary="The provider confirmed: credit the wallet, once per reference",
    openapi_extra=idempotency.REQUIRED,
)
def complete(request: HttpRequest, payload: PaymentRef):
    def work():
        done = actions.complete_payment(
            payload.provider, payload.reference, actor=request.auth.actor
        )
        return 200, payment_data(done)

    return _write(request, payload, work)


@router.post(
    "/fail",
    auth=scope("ledger:write"),
    response={200: PaymentOut},
    summary="The provider says it failed: record why",
    openapi_extra=idempotency.REQUIRED,
)
def fail(request: HttpRequest, payload: FailIn):
    def work():
        failed = actions.fail_payment(
            payload.provider,
            payload.reference,
            error_message=payload.error_message,
            actor=request.auth.actor,
        )
        return 200, payment_data(failed)

    return _write(request, payload, work)


@router.post(
    "/refund",
    auth=scope("ledger:write"),
    response={200: PaymentOut},
    summary="The money went back: take the credit back (settle='clamp': what is left)",
    openapi_extra=idempotency.REQUIRED,
)
def refund(request: HttpRequest, payload: RefundIn):
    def work():
        refunded = actions.refund_payment(
            payload.provider,
            payload.reference,
            reason=payload.reason,
            settle=payload.settle,
            actor=request.auth.actor,
        )
        return 200, payment_data(refunded)

    return _write(request, payload, work)


@router.get(
    "/{provider}/{reference}",
    auth=scope("ledger:read"),
    response=PaymentOut,
    summary="A payment, by provider and reference",
)
def get_payment(request: HttpRequest, provider: str, reference: str):
    found = Payment.objects.filter(provider=provider, payment_reference=reference).first()
    if found is None:
        raise Problem(404, "payment_not_found", f"no {provider} payment {reference!r}")
    return payment_data(found)


readings = Router(tags=["payments"])


@readings.post(
    "",
    auth=scope("ledger:write"),
    response={201: HoldOut},
    summary="Begin a Tarot reading: hold its price until it is finished or abandoned",
    openapi_extra=idempotency.REQUIRED,
)
def begin(request: HttpRequest, payload: BeginIn):
    def work():
        held = actions.begin_reading(
            _member(payload.member_id),
            spread=payload.spread,
            question=payload.question,
            price=payload.price,
            currency=payload.currency,
            idempotency_key=idempotency.ledger_key(request),
            expires_in=timedelta(seconds=payload.expires_in_seconds),
            actor=request.auth.actor,
        )
        return 201, hold_data(held)

    return _write(request, payload, work)


@readings.post(
    "/{hold_id}/finish",
    auth=scope("ledger:write"),
    response={201: ReadingOut},
    summary="Finish a reading: capture its hold and write it, in one transaction",
    openapi_extra=idempotency.REQUIRED,
)
def finish(request: HttpRequest, hold_id: PathId, payload: FinishIn):
    def work():
        held = get_or_404(Hold.objects, hold_id, "hold")
        reading = actions.finish_reading(
            held,
            cards=payload.cards,
            interpretation=payload.interpretation,
            actor=request.auth.actor,
        )
        return 201, reading_data(reading)

    return _write(request, payload, work)


@readings.post(
    "/{hold_id}/abandon",
    auth=scope("ledger:write"),
    response={200: HoldOut},
    summary="Abandon a reading: release its hold",
    openapi_extra=idempotency.REQUIRED,
)
def abandon(request: HttpRequest, hold_id: PathId, payload: NoBody | None = None):
    def work():
        held = get_or_404(Hold.objects, hold_id, "hold")
        actions.abandon_reading(held, actor=request.auth.actor)
        return 200, hold_data(held)

    return _write(request, None, work)
