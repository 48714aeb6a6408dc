"""The payments integrity checks: quiet on what the actions built, and each finds the
corruption it exists for, planted as only a write going around Concord could (raw SQL
with the triggers off, `tests.helpers.raw_write`)."""

from __future__ import annotations

import pytest

from integrity.registry import Violations, all_checks, get_check
from ledger.actions import spend
from payments.actions import (
    abandon_reading,
    begin_reading,
    complete_payment,
    fail_payment,
    finish_reading,
    refund_payment,
)
from tests.helpers import raw_write
from tests.ledger.rows import signup_transfer
from tests.payments.helpers import start

pytestmark = pytest.mark.django_db

CHECKS = [
    "payments.captured_reading_written",
    "payments.credit_matches_payment",
    "payments.reading_paid",
    "payments.refund_takes_back_credit",
]


def found(name: str) -> Violations:
    return get_check(name).func()


def test_every_payments_check_is_registered():
    assert [c.name for c in all_checks() if c.name.startswith("payments.")] == CHECKS


def test_the_checks_are_quiet_on_what_the_actions_wrote(paid, reader, bob):
    start(bob, "pi_failed")
    fail_payment("stripe", "pi_failed", error_message="card_declined")
    start(reader, "pi_refunded")
    complete_payment("stripe", "pi_refunded")
    refund_payment("stripe", "pi_refunded", reason="Chargeback")
    held = begin_reading(reader, spread="celtic_cross", price=10, idempotency_key="a")
    finish_reading(held, cards=["The Moon"], interpretation="Wait.")
    abandon_reading(begin_reading(reader, spread="yes_no", price=10, idempotency_key="b"))
    begin_reading(reader, spread="yes_no", price=10, idempotency_key="c")  # still pending
    spend(reader, 490, currency="credits", sink="shop", reason="x", idempotency_key="x")
    refund_payment("stripe", "pi_1", reason="Chargeback", settle="clamp")  # 90 taken back
    for name in CHECKS:
        assert found(name) == Violations(count=0), name


def test_a_credit_that_does_not_match_its_payment_is_found(paid):
    raw_write("UPDATE payments_payment SET credit_amount = 400 WHERE id = %s", [paid.pk])
    assert found("payments.credit_matches_payment") == Violations(count=1, sample=[paid.pk])


def test_a_refund_that_did_not_take_back_the_credit_is_found(paid):
    refund_payment("stripe", "pi_1", reason="Chargeback")
    raw_write("UPDATE payments_payment SET written_off = 100 WHERE id = %s", [paid.pk])
    assert found("payments.refund_takes_back_credit") == Violations(count=1, sample=[paid.pk])


def test_a_reading_not_paid_by_its_hold_is_found(reader):
    held = begin_reading(reader, spread="yes_no", price=10, idempotency_key="a")
    reading = finish_reading(held, cards=["The Sun"], interpretation="Yes.")
    raw_write(
        "UPDATE payments_reading SET transfer_id = %s WHERE id = %s",
        [signup_transfer(reader).pk, reading.pk],
    )
    assert found("payments.reading_paid") == Violations(count=1, sample=[reading.pk])


def test_a_reading_paid_for_and_never_written_is_found(reader):
    held = begin_reading(reader, spread="yes_no", price=10, idempotency_key="a")
    raw_write(
        "UPDATE ledger_hold SET status = 'captured', settled_at = created_at, transfer_id = %s"
        " WHERE id = %s",
        [signup_transfer(reader).pk, held.pk],
    )
    assert found("payments.captured_reading_written") == Violations(count=1, sample=[held.pk])
