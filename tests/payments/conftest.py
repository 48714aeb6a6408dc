"""Payments fixtures; every test's writes pass the checks PostgreSQL defers to COMMIT."""

from __future__ import annotations

import pytest

from ledger.actions import award
from tests.tournaments.helpers import checks_at_the_end

_deferred_checks_pass = pytest.fixture(autouse=True)(checks_at_the_end)


@pytest.fixture
def paid(alice):
    """Alice, having bought 500 credits at Stripe (reference pi_1) for 4.99 EUR."""
    from payments.actions import complete_payment, start_payment

    start_payment(
        alice,
        provider="stripe",
        reference="pi_1",
        amount=499,
        currency="EUR",
        credit_amount=500,
    )
    return complete_payment("stripe", "pi_1")


@pytest.fixture
def reader(alice):
    """Alice with 100 credits to pay for readings."""
    award(alice, 100, currency="credits", reason="Gift", idempotency_key="gift-alice")
    return alice
