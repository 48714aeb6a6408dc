"""Every refusal of a payments action: one base error, named subclasses."""

from __future__ import annotations

from config.errors import Refusal


class PaymentsError(Refusal):
    """Base error of payments and readings; every refusal of their actions is one."""


class InvalidPayment(PaymentsError, ValueError):
    """A malformed argument: provider, reference, amount, currency, message."""


class PaymentNotFound(PaymentsError, LookupError):
    """No payment has this provider and reference."""


class PaymentConflict(PaymentsError):
    """A provider's reference was started before with different terms."""


class PaymentFailed(PaymentsError):
    """The payment failed; a later success callback for it is refused."""


class PaymentAlreadyCompleted(PaymentsError):
    """A completed (or refunded) payment cannot fail."""


class PaymentNotRefundable(PaymentsError):
    """Only a completed payment can be refunded."""


class RefundWouldOverdraw(PaymentsError):
    """The wallet no longer holds the credit; pass `settle="clamp"` to take what it has."""


class InvalidReading(PaymentsError, ValueError):
    """A malformed reading: unknown spread, blank interpretation, no cards, ..."""


class NotAReadingHold(PaymentsError):
    """The hold was not placed by `begin_reading`."""


class ReadingConflict(PaymentsError):
    """A reading's idempotency key was used before for another reading."""


class ReadingNotOpen(PaymentsError):
    """The reading's hold was released or expired: it can no longer be finished."""


class ReadingAlreadyFinished(PaymentsError):
    """The reading was written (with other cards), or cannot be abandoned once written."""

    def __init__(self, message: str, reading=None):
        self.reading = reading
        super().__init__(message)
