"""Small helpers of the payments tests."""

from __future__ import annotations

from ledger.models import Account


def credits(member) -> tuple[int, int]:
    """(balance, held) of the member's credits wallet."""
    wallet = Account.objects.get(member=member, currency__code="credits")
    return wallet.balance, wallet.held


def start(member, reference: str = "pi_2", **terms):
    from payments.actions import start_payment

    values = {"provider": "stripe", "amount": 999, "currency": "EUR", "credit_amount": 1000}
    return start_payment(member, reference=reference, **{**values, **terms})
