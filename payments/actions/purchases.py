"""Credits bought with money: a payment's life at its provider, and its one credit.

A provider calls back at least once, maybe twice at the same moment, maybe after it said
the payment failed. So the payment row is locked first in every action: the second of
two callbacks waits, then finds the payment completed and answers with it (`replayed`),
paying nothing more; the credit's ledger key `payment:<provider>:<reference>` would
refuse a second credit even without the lock, and `payments_payment_guard` (PostgreSQL)
refuses a completed payment whose transfer does not credit exactly its credit.

Refunds: the provider returns the money; Concord takes the credit back from the wallet.
If the member has spent some of it (or holds it for a reading), a full reversal would
drive the wallet below what it holds, and is refused (`RefundWouldOverdraw`) unless the
caller says how to settle: `settle="clamp"` takes what the wallet has available (into
`sink:payment-refunds`) and records the rest as `written_off` on the payment. Debt is not
an option: wallets never go below zero.
"""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction
from django.utils import timezone

import events
from accounts.models import Member
from config.db import Ref, pk_of
from ledger.actions import award, reverse, spend
from ledger.models import Account, Currency, TransferKind
from ledger.plans import MAX_AMOUNT, SystemKey
from payments import payloads
from payments.exceptions import (
    InvalidPayment,
    PaymentAlreadyCompleted,
    PaymentConflict,
    PaymentFailed,
    PaymentNotFound,
    PaymentNotRefundable,
    RefundWouldOverdraw,
)
from payments.models import ISO_CURRENCY_PATTERN, PROVIDER_PATTERN, Payment, PaymentStatus

SETTLEMENTS = (None, "clamp")
REFUND_SINK = "payment-refunds"
MESSAGE_MAX = 1000


def _amount(value, what: str) -> int:
    if type(value) is not int or not 0 < value <= MAX_AMOUNT:
        raise InvalidPayment(f"{what} is a positive integer up to {MAX_AMOUNT}, not {value!r}")
    return value


def _text(value, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidPayment(f"{what} is required")
    value = value.strip()
    if len(value) > limit or "\x00" in value:
        raise InvalidPayment(f"{what} has at most {limit} characters and no NUL")
    return value


def _reference(provider, reference) -> tuple[str, str]:
    if not isinstance(provider, str) or not re.match(PROVIDER_PATTERN, provider):
        raise InvalidPayment(f"a provider is a lowercase name like 'stripe', not {provider!r}")
    return provider, _text(reference, "a payment reference", 255)


def _key(payment: Payment, suffix: str = "") -> SystemKey:
    return SystemKey(f"payment:{payment.provider}:{payment.payment_reference}{suffix}")


def _publish(kind: str, payment: Payment, actor) -> None:
    code = Currency.objects.filter(pk=payment.credit_currency_id).values_list("code", flat=True)[0]
    events.publish(
        f"payments.{kind}",
        payloads.payment_changed(payment, code),
        actor=actor,
        subject=f"payment:{payment.pk}",
    )


def _locked(provider, reference) -> Payment:
    provider, reference = _reference(provider, reference)
    payment = (
        Payment.objects.select_for_update(of=("self",))
        .filter(provider=provider, payment_reference=reference)
        .first()
    )
    if payment is None:
        raise PaymentNotFound(f"no {provider} payment {reference!r}")
    payment.replayed = False
    return payment


def _replayed(payment: Payment) -> Payment:
    payment.replayed = True
    return payment


@transaction.atomic
def start_payment(
    member,
    *,
    provider: str,
    reference: str,
    amount: int,
    currency: str,
    credit_amount: int,
    credit_currency: str = "credits",
    actor=None,
) -> Payment:
    """Record an attempt to pay `amount` (minor units of the ISO `currency`) at
    `provider` for `credit_amount` of `credit_currency`. Starting the same reference again
    with the same terms returns it (`replayed`); with other terms raises `PaymentConflict`."""
    member_id = pk_of(member, "member", InvalidPayment, ids=False)
    provider, reference = _reference(provider, reference)
    terms = {
        "member_id": member_id,
        "amount": _amount(amount, "an amount"),
        "currency": currency if isinstance(currency, str) else "",
        "credit_amount": _amount(credit_amount, "a credit amount"),
    }
    if not re.match(ISO_CURRENCY_PATTERN, terms["currency"]):
        raise InvalidPayment(f"a currency is an ISO 4217 code like 'EUR', not {currency!r}")
    if not Member.objects.filter(pk=member_id).exists():
        raise InvalidPayment(f"no member {member_id}")
    credit = Currency.objects.filter(code=credit_currency).first()
    if credit is None:
        raise InvalidPayment(f"no ledger currency {credit_currency!r}")
    terms["credit_currency_id"] = credit.pk
    try:
        with transaction.atomic():
            payment = Payment.objects.create(
                provider=provider, payment_reference=reference, created_at=timezone.now(), **terms
            )
    except IntegrityError:
        payment = Payment.objects.filter(provider=provider, payment_reference=reference).first()
        if payment is None:  # not the reference: some other rule (the CHECKs mirror ours)
            raise
        differing = [name for name, value in terms.items() if getattr(payment, name) != value]
        if differing:
            raise PaymentConflict(
                f"{provider} payment {reference!r} was started with other terms"
                f" ({', '.join(differing)} differ)"
            ) from None
        return _replayed(payment)
    payment.replayed = False
    _publish("payment_started", payment, actor)
    return payment


@transaction.atomic
def complete_payment(provider: str, reference: str, *, actor=None) -> Payment:
    """The provider confirmed the payment: credit the wallet, once. A repeated callback
    returns the payment (`replayed`) and pays nothing; a failed payment raises
    `PaymentFailed`."""
    payment = _locked(provider, reference)
    if payment.status in (PaymentStatus.COMPLETED, PaymentStatus.REFUNDED):
        return _replayed(payment)
    if payment.status == PaymentStatus.FAILED:
        raise PaymentFailed(
            f"{payment.provider} payment {payment.payment_reference!r} failed"
            f" ({payment.error_message}); it cannot complete"
        )
    credit = award(
        Ref(payment.member_id),
        payment.credit_amount,
        currency=payment.credit_currency.code,
        kind=TransferKind.AWARD,
        reason=f"Bought: {payment.provider} payment {payment.payment_reference}"[:255],
        idempotency_key=_key(payment),
        actor=actor,
        context={"payment_id": payment.pk},
    )
    payment.status, payment.completed_at, payment.transfer = (
        PaymentStatus.COMPLETED,
        timezone.now(),
        credit,
    )
    payment.save(update_fields=["status", "completed_at", "transfer"])
    _publish("payment_completed", payment, actor)
    return payment


@transaction.atomic
def fail_payment(provider: str, reference: str, *, error_message: str, actor=None) -> Payment:
    """The provider says the payment failed: record why. The row stays. Failing it again
    returns it as it is (`replayed`); a completed payment raises `PaymentAlreadyCompleted`."""
    message = _text(error_message, "an error message", MESSAGE_MAX)
    payment = _locked(provider, reference)
    if payment.status == PaymentStatus.FAILED:
        return _replayed(payment)
    if payment.status != PaymentStatus.PENDING:
        raise PaymentAlreadyCompleted(
            f"{payment.provider} payment {payment.payment_reference!r} is {payment.status}"
        )
    payment.status, payment.error_message, payment.failed_at = (
        PaymentStatus.FAILED,
        message,
        timezone.now(),
    )
    payment.save(update_fields=["status", "error_message", "failed_at"])
    _publish("payment_failed", payment, actor)
    return payment


@transaction.atomic
def refund_payment(
    provider: str, reference: str, *, reason: str, settle: str | None = None, actor=None
) -> Payment:
    """The money went back: take the credit back from the wallet (the credit's reversal).
    If the wallet no longer has it available, raises `RefundWouldOverdraw`, unless
    `settle="clamp"`: then what is available is taken and the rest `written_off`.
    Refunding again returns the payment (`replayed`); only a completed one is refunded."""
    if settle not in SETTLEMENTS:
        raise InvalidPayment(f"settle is None or 'clamp', not {settle!r}")
    reason = _text(reason, "a reason", 255)
    payment = _locked(provider, reference)
    if payment.status == PaymentStatus.REFUNDED:
        return _replayed(payment)
    if payment.status != PaymentStatus.COMPLETED:
        raise PaymentNotRefundable(
            f"{payment.provider} payment {payment.payment_reference!r} is {payment.status};"
            " only a completed payment is refunded"
        )
    # Lock the wallet before reading what it has: nothing spends it meanwhile.
    wallet = Account.objects.select_for_update().get(
        member_id=payment.member_id, currency_id=payment.credit_currency_id
    )
    taken = min(wallet.available, payment.credit_amount)
    if taken < payment.credit_amount and settle is None:
        raise RefundWouldOverdraw(
            f"member {payment.member_id} has {wallet.available} {payment.credit_currency.code}"
            f" available, {payment.credit_amount} to take back; settle='clamp' takes what is there"
        )
    refund = None
    if taken == payment.credit_amount:
        refund = reverse(
            payment.transfer, reason=reason, idempotency_key=_key(payment, ":refund"), actor=actor
        )
    elif taken > 0:
        refund = spend(
            Ref(payment.member_id),
            taken,
            currency=payment.credit_currency.code,
            kind=TransferKind.ADJUSTMENT,
            sink=REFUND_SINK,
            reason=reason,
            idempotency_key=_key(payment, ":refund"),
            actor=actor,
            context={"payment_id": payment.pk, "written_off": payment.credit_amount - taken},
        )
    payment.status, payment.refunded_at, payment.refund_transfer = (
        PaymentStatus.REFUNDED,
        timezone.now(),
        refund,
    )
    payment.refund_reason, payment.written_off = reason, payment.credit_amount - taken
    payment.save(
        update_fields=["status", "refunded_at", "refund_transfer", "refund_reason", "written_off"]
    )
    _publish("payment_refunded", payment, actor)
    return payment
