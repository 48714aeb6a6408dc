"""Read models of payments: what the dashboard's member page shows."""

from __future__ import annotations

from payments.models import Payment, Reading


def member_payments(member_id: int, *, limit: int = 20) -> list[Payment]:
    """The member's latest payments, newest first (payments_payment_member_recent)."""
    return list(
        Payment.objects.filter(member_id=member_id)
        .select_related("credit_currency")
        .order_by("-created_at", "-pk")[:limit]
    )


def member_readings(member_id: int, *, limit: int = 20) -> list[Reading]:
    """The member's latest readings, newest first, with what each cost
    (payments_reading_member_recent)."""
    return list(
        Reading.objects.filter(member_id=member_id)
        .select_related("hold__account__currency")
        .order_by("-created_at", "-pk")[:limit]
    )
