"""Purchases of credits with real money, and the paid Tarot readings they buy.

A `Payment` is one attempt at a provider (Stripe, Telegram Stars, ...), found by the
provider's own reference. Its `amount` is money, in the minor units of an ISO 4217
`currency` (1999 EUR is 19.99 €): what the member paid, recorded as the provider said.
What it buys is `credit_amount` of a ledger `credit_currency`, credited to the member's
wallet once, when the provider confirms (`transfer`). Money never enters the ledger:
the ledger counts credits.

A `Reading` is written only when it is finished, paid for by capturing the ledger hold
`begin_reading` placed (`hold`, captured into `transfer`). While it is being drawn it is
only that hold, in the sink `sink:readings`; an abandoned or expired one leaves no reading.

Every rule the database can hold is here; those spanning rows are PostgreSQL triggers
whose bodies are `payments/sql/*.pg.sql`, and checks in `payments/integrity.py`.
"""

from __future__ import annotations

import pgtrigger
from django.db import models
from django.db.models import F, Func, Q
from django.db.models.lookups import GreaterThan

from accounts.models import Member
from ledger.models import Currency, Hold, Transfer
from payments import sql

READING_SINK = "sink:readings"  # the system account readings pay; marks a reading's hold
PROVIDER_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}\Z"
ISO_CURRENCY_PATTERN = r"^[A-Z]{3}\Z"


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    REFUNDED = "refunded", "Refunded"


# The legal moves, read by the actions; the trigger (payments_payment_guard.pg.sql) holds
# the same.
TRANSITIONS = {
    PaymentStatus.PENDING: (PaymentStatus.COMPLETED, PaymentStatus.FAILED),
    PaymentStatus.COMPLETED: (PaymentStatus.REFUNDED,),
}


class Payment(models.Model):
    provider = models.CharField(max_length=32, help_text="stripe, telegram-stars, ...")
    payment_reference = models.CharField(max_length=255, help_text="The provider's own id.")
    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="payments",
        db_index=False,  # payments_payment_member_recent leads with member_id
    )
    amount = models.BigIntegerField(help_text="Money paid, in minor units of `currency`.")
    currency = models.CharField(max_length=3, help_text="ISO 4217 code of the money: EUR, USD.")
    credit_currency = models.ForeignKey(Currency, on_delete=models.PROTECT, related_name="+")
    credit_amount = models.BigIntegerField(help_text="What the wallet is credited on completion.")
    status = models.CharField(
        max_length=16, choices=PaymentStatus.choices, default=PaymentStatus.PENDING
    )
    error_message = models.TextField(blank=True, help_text="Why it failed.")
    created_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    transfer = models.OneToOneField(
        Transfer, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    refund_transfer = models.OneToOneField(
        Transfer, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    refund_reason = models.CharField(max_length=255, blank=True)
    written_off = models.BigIntegerField(
        default=0, help_text="Credit a clamped refund could not take back (already spent)."
    )

    class Meta:
        permissions = [
            ("refund_payment", "Can refund a payment"),
            ("resolve_payment", "Can complete or fail a pending payment by hand"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "payment_reference"], name="payments_payment_reference_unique"
            ),
            models.CheckConstraint(
                condition=Q(provider__regex=PROVIDER_PATTERN),
                name="payments_payment_provider_format",
            ),
            models.CheckConstraint(
                condition=~Q(payment_reference=""), name="payments_payment_reference_not_blank"
            ),
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="payments_payment_amount_positive"
            ),
            models.CheckConstraint(
                condition=Q(currency__regex=ISO_CURRENCY_PATTERN),
                name="payments_payment_currency_iso",
            ),
            models.CheckConstraint(
                condition=Q(credit_amount__gt=0), name="payments_payment_credit_positive"
            ),
            # One of the four statuses, each with exactly its fields: a completed payment
            # its credit, a failed one its reason, a refunded one its credit.
            models.CheckConstraint(
                condition=(
                    Q(status=PaymentStatus.PENDING)
                    & Q(completed_at__isnull=True, transfer__isnull=True, failed_at__isnull=True)
                    & Q(error_message="")
                )
                | (
                    Q(status=PaymentStatus.COMPLETED)
                    & Q(completed_at__isnull=False, transfer__isnull=False)
                    & Q(failed_at__isnull=True, error_message="")
                )
                | (
                    Q(status=PaymentStatus.FAILED)
                    & Q(completed_at__isnull=True, transfer__isnull=True)
                    & Q(failed_at__isnull=False)
                    & ~Q(error_message="")
                )
                | (
                    Q(status=PaymentStatus.REFUNDED)
                    & Q(completed_at__isnull=False, transfer__isnull=False)
                    & Q(failed_at__isnull=True, error_message="")
                ),
                name="payments_payment_fields_match_status",
            ),
            models.CheckConstraint(
                condition=(
                    Q(status=PaymentStatus.REFUNDED, refunded_at__isnull=False)
                    & ~Q(refund_reason="")
                    & (Q(refund_transfer__isnull=False) | Q(written_off=F("credit_amount")))
                )
                | (
                    ~Q(status=PaymentStatus.REFUNDED)
                    & Q(refunded_at__isnull=True, refund_transfer__isnull=True)
                    & Q(refund_reason="", written_off=0)
                ),
                name="payments_payment_refund_when_refunded",
            ),
            models.CheckConstraint(
                condition=Q(written_off__gte=0, written_off__lte=F("credit_amount")),
                name="payments_payment_written_off_range",
            ),
            models.CheckConstraint(
                condition=~Q(transfer=F("refund_transfer")),
                name="payments_payment_refund_not_credit",
            ),
        ]
        indexes = [
            # The member page (dashboard.views.member): a member's latest payments.
            models.Index(fields=["member", "-created_at"], name="payments_payment_member_recent"),
        ]
        triggers = [
            pgtrigger.Trigger(
                name="payments_payment_guard",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert | pgtrigger.Update | pgtrigger.Delete,
                func=sql.statement("payments_payment_guard.pg"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.payment_reference} ({self.status})"


class Spread(models.TextChoices):
    """The bot's nine Tarot spreads."""

    SINGLE_CARD = "single_card", "Single card"
    YES_NO = "yes_no", "Yes or no"
    THREE_CARD = "three_card", "Three cards"
    PAST_PRESENT_FUTURE = "past_present_future", "Past, present, future"
    RELATIONSHIP = "relationship", "Relationship"
    CAREER = "career", "Career"
    HORSESHOE = "horseshoe", "Horseshoe"
    CELTIC_CROSS = "celtic_cross", "Celtic cross"
    YEAR_AHEAD = "year_ahead", "Year ahead"


class CardCount(Func):
    """How many items a JSON column's array has; 0 when it is not an array."""

    output_field = models.IntegerField()
    template = (
        "CASE WHEN json_type(%(expressions)s) = 'array'"
        " THEN json_array_length(%(expressions)s) ELSE 0 END"
    )

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(
            compiler,
            connection,
            template=(
                "CASE WHEN jsonb_typeof(%(expressions)s) = 'array'"
                " THEN jsonb_array_length(%(expressions)s) ELSE 0 END"
            ),
            **extra_context,
        )


class Reading(models.Model):
    member = models.ForeignKey(
        Member,
        on_delete=models.PROTECT,
        related_name="readings",
        db_index=False,  # payments_reading_member_recent leads with member_id
    )
    spread = models.CharField(max_length=32, choices=Spread.choices)
    question = models.TextField(blank=True)
    cards = models.JSONField(help_text="The cards drawn, in order: a non-empty list.")
    interpretation = models.TextField()
    created_at = models.DateTimeField()
    hold = models.OneToOneField(Hold, on_delete=models.PROTECT, related_name="+")
    transfer = models.OneToOneField(
        Transfer, on_delete=models.PROTECT, related_name="+", help_text="The capture that paid."
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(spread__in=Spread.values), name="payments_reading_spread_valid"
            ),
            models.CheckConstraint(
                condition=GreaterThan(CardCount("cards"), 0), name="payments_reading_cards_drawn"
            ),
            models.CheckConstraint(
                condition=~Q(interpretation=""), name="payments_reading_interpretation_not_blank"
            ),
        ]
        indexes = [
            # The member page (dashboard.views.member): a member's latest readings.
            models.Index(fields=["member", "-created_at"], name="payments_reading_member_recent"),
        ]
        triggers = [
            pgtrigger.Trigger(
                name="payments_reading_guard",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert | pgtrigger.Update | pgtrigger.Delete,
                func=sql.statement("payments_reading_guard.pg"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_spread_display()} for member {self.member_id}"


class ReadingHold(Hold):
    """The ledger's holds, seen from payments: carries the trigger that a captured reading
    hold has its reading by commit (the ledger knows nothing of readings)."""

    class Meta:
        proxy = True
        triggers = [
            pgtrigger.Trigger(
                name="payments_reading_written",
                when=pgtrigger.After,
                operation=pgtrigger.UpdateOf("status"),
                timing=pgtrigger.Deferred,
                condition=pgtrigger.Q(new__status="captured", new__sink=READING_SINK),
                func=sql.statement("payments_reading_written.pg"),
            ),
        ]
