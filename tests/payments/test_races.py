"""Money moving under races: real processes, each with its own PostgreSQL connection,
released at once by one barrier (`tests.helpers.at_once`).

Two (or eight) provider callbacks for one payment pay once; a reading finished twice is
written once and captured once; a callback racing a failure, or a finish racing an
abandon, ends in one of the two outcomes, never both. Every payments and ledger check
passes after each."""

from __future__ import annotations

import pytest
from django.db import connections

from config.db import Ref
from events.models import Event
from integrity.registry import all_checks
from integrity.runner import run_checks
from ledger.actions import award
from ledger.models import Hold, Transfer
from payments.actions import (
    abandon_reading,
    begin_reading,
    complete_payment,
    fail_payment,
    finish_reading,
    refund_payment,
)
from payments.models import Payment, Reading
from tests.factories import MemberFactory
from tests.helpers import at_once as run_at_once
from tests.payments.helpers import credits, start

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CALLBACKS = 8
CARDS = ["The Lovers", "Two of Cups"]


def _call(job):
    action, args = job
    try:
        if action == "complete":
            done = complete_payment(*args)
            return ("ok", done.status, done.replayed, done.transfer_id)
        if action == "fail":
            done = fail_payment(*args, error_message="card_declined")
            return ("ok", done.status, done.replayed, None)
        if action == "refund":
            done = refund_payment(*args, reason="Chargeback")
            return ("ok", done.status, done.replayed, done.refund_transfer_id)
        if action == "finish":
            hold_id, cards = args
            reading = finish_reading(Ref(hold_id), cards=cards, interpretation="Together.")
            return ("ok", reading.pk, reading.replayed, reading.transfer_id)
        if action == "abandon":
            released = abandon_reading(Ref(args[0]))
            return ("ok", released.status, released.replayed, None)
        raise ValueError(action)
    except Exception as error:
        return ("refused", type(error).__name__, str(error), None)
    finally:
        connections.close_all()


def at_once(jobs: list[tuple]) -> list[tuple]:
    return run_at_once(_call, jobs)


def assert_clean() -> None:
    names = [c.name for c in all_checks() if c.name.startswith(("payments.", "ledger."))]
    report = run_checks(names)
    assert report.ok, [(r.name, r.sample, r.error) for r in report.checks if r.status != "ok"]


def test_eight_callbacks_for_one_payment_pay_once():
    member = MemberFactory()
    start(member, "pi_race")
    outcomes = at_once([("complete", ("stripe", "pi_race"))] * CALLBACKS)
    assert {o[:2] for o in outcomes} == {("ok", "completed")}
    assert sorted(o[2] for o in outcomes) == [False] + [True] * (CALLBACKS - 1)
    assert len({o[3] for o in outcomes}) == 1
    assert credits(member) == (1000, 0)
    assert Transfer.objects.filter(idempotency_key__startswith="payment:").count() == 1
    assert Event.objects.filter(kind="payments.payment_completed").count() == 1
    assert_clean()


def test_a_success_callback_racing_a_failure_ends_one_way():
    member = MemberFactory()
    start(member, "pi_race")
    outcomes = at_once([("complete", ("stripe", "pi_race")), ("fail", ("stripe", "pi_race"))])
    payment = Payment.objects.get()
    refusals = sorted(o[1] for o in outcomes if o[0] == "refused")
    if payment.status == "completed":
        assert refusals == ["PaymentAlreadyCompleted"]
        assert credits(member) == (1000, 0)
    else:
        assert (payment.status, refusals) == ("failed", ["PaymentFailed"])
        assert credits(member) == (0, 0)
    assert_clean()


def test_two_refunds_at_once_take_the_credit_back_once():
    member = MemberFactory()
    start(member, "pi_race")
    complete_payment("stripe", "pi_race")
    outcomes = at_once([("refund", ("stripe", "pi_race"))] * 2)
    assert sorted(o[2] for o in outcomes) == [False, True]
    assert credits(member) == (0, 0)
    assert Transfer.objects.filter(kind="reversal").count() == 1
    assert_clean()


@pytest.fixture
def reading_hold() -> Hold:
    member = MemberFactory()
    award(member, 100, currency="credits", reason="Gift", idempotency_key="gift")
    return begin_reading(member, spread="relationship", price=40, idempotency_key="r")


def test_a_reading_finished_eight_times_at_once_is_written_and_paid_once(reading_hold):
    outcomes = at_once([("finish", (reading_hold.pk, CARDS))] * CALLBACKS)
    assert {o[0] for o in outcomes} == {"ok"}
    assert len({o[1] for o in outcomes}) == 1
    assert sorted(o[2] for o in outcomes) == [False] + [True] * (CALLBACKS - 1)
    assert Reading.objects.count() == 1
    assert Transfer.objects.filter(idempotency_key=f"hold:{reading_hold.pk}:capture").count() == 1
    assert credits(reading_hold.account.member) == (60, 0)
    assert_clean()


def test_a_reading_finished_twice_with_other_cards_keeps_the_first(reading_hold):
    outcomes = at_once(
        [("finish", (reading_hold.pk, CARDS)), ("finish", (reading_hold.pk, ["The Tower"]))]
    )
    assert sorted(o[0] for o in outcomes) == ["ok", "refused"]
    assert [o[1] for o in outcomes if o[0] == "refused"] == ["ReadingAlreadyFinished"]
    assert Reading.objects.count() == 1
    assert credits(reading_hold.account.member) == (60, 0)
    assert_clean()


def test_a_finish_racing_an_abandon_ends_one_way(reading_hold):
    outcomes = at_once([("finish", (reading_hold.pk, CARDS)), ("abandon", (reading_hold.pk,))])
    reading_hold.refresh_from_db()
    refusals = [o[1] for o in outcomes if o[0] == "refused"]
    if reading_hold.status == "captured":
        assert refusals == ["ReadingAlreadyFinished"]
        assert Reading.objects.count() == 1
        assert credits(reading_hold.account.member) == (60, 0)
    else:
        assert (reading_hold.status, refusals) == ("released", ["ReadingNotOpen"])
        assert Reading.objects.count() == 0
        assert credits(reading_hold.account.member) == (100, 0)
    assert_clean()
