"""Every write of payments and readings, one module per subject.

- `purchases`: `start_payment`, `complete_payment`, `fail_payment`, `refund_payment`;
- `readings`: `begin_reading`, `finish_reading`, `abandon_reading`.

Each runs in one transaction, locks the payment (or the reading's hold) first and then,
through the ledger's actions, the wallet, publishes its event in the transaction, and on a
refusal (a `PaymentsError`, or the ledger's own) leaves the database as it was. Money
moves only through `ledger.actions`, under keys derived here (`payment:`, reserved).
"""

from __future__ import annotations

from payments.actions.purchases import (
    complete_payment,
    fail_payment,
    refund_payment,
    start_payment,
)
from payments.actions.readings import abandon_reading, begin_reading, finish_reading

__all__ = [
    "abandon_reading",
    "begin_reading",
    "complete_payment",
    "fail_payment",
    "finish_reading",
    "refund_payment",
    "start_payment",
]
