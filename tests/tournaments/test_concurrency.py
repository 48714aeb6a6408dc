"""The rush: many processes at once, each with its own PostgreSQL connection, and the
tournament's row lock deciding slots and positions one registration at a time.

64 players register at once for 16 slots: exactly 16 get a slot (and pay), 48 are
waitlisted at 1..48. Then 8 players withdraw at once: exactly 8 are promoted, in
waitlist order; the one in line who cannot pay is skipped and nothing of theirs remains.
"""

from __future__ import annotations

import pytest
from django.db import connections

from config.db import Ref
from events.models import Event
from integrity.registry import all_checks
from integrity.runner import run_checks
from ledger.actions import spend
from ledger.models import Account, Transfer
from tests.factories import MemberFactory, TournamentFactory
from tests.helpers import at_once as run_at_once
from tournaments.actions import check_in, close_check_in, open_check_in, register, withdraw
from tournaments.models import Registration, Tournament

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PLAYERS, CAPACITY, FEE, LEAVING = 64, 16, 10, 8


def _call(job):
    action, args = job
    try:
        if action == "register":
            registration = register(Ref(args[0]), Ref(args[1]))
            return ("ok", registration.pk, registration.status, registration.created)
        if action == "withdraw":
            gone = withdraw(Ref(args[0]))
            return ("ok", gone.pk, [p.pk for p in gone.promoted], None)
        if action == "check_in":
            return ("ok", check_in(Ref(args[0])).pk, None, None)
        if action == "close":
            return ("ok", len(close_check_in(Ref(args[0])).no_shows), None, None)
        raise ValueError(action)
    except Exception as error:
        return ("refused", type(error).__name__, str(error), None)
    finally:
        connections.close_all()


def at_once(jobs: list[tuple]) -> list[tuple]:
    return run_at_once(_call, jobs)


def balance(member_id: int) -> int:
    return Account.objects.get(member_id=member_id, currency__code="points").balance


def assert_clean() -> None:
    names = [c.name for c in all_checks() if c.name.startswith(("tournaments.", "ledger."))]
    report = run_checks(names)
    assert report.ok, [(r.name, r.sample, r.error) for r in report.checks if r.status != "ok"]


def test_64_register_at_once_for_16_slots_then_8_withdraw_at_once():
    cup = TournamentFactory(capacity=CAPACITY, entry_fee=FEE)
    members = [MemberFactory().pk for _ in range(PLAYERS)]

    outcomes = at_once([("register", (cup.pk, member)) for member in members])

    refusals = [o for o in outcomes if o[0] != "ok"]
    assert not refusals, refusals
    assert sorted(o[2] for o in outcomes) == ["registered"] * 16 + ["waitlisted"] * 48
    assert all(o[3] is True for o in outcomes)
    rows = Registration.objects.filter(tournament=cup)
    seated = list(rows.filter(status="registered").order_by("pk"))
    line = list(rows.filter(status="waitlisted").order_by("waitlist_position"))
    assert len(seated) == CAPACITY
    assert [r.waitlist_position for r in line] == list(range(1, 49))
    cup.refresh_from_db()
    assert (cup.active_count, cup.waitlist_count) == (16, 48)
    # Every slot paid once, under its own key; nobody on the waitlist paid.
    for registration in seated:
        fee = Transfer.objects.get(pk=registration.fee_transfer_id)
        assert fee.idempotency_key == f"tournament:{cup.pk}:fee:{registration.pk}"
        assert balance(registration.member_id) == 100 - FEE
    assert all(r.fee_transfer_id is None and balance(r.member_id) == 100 for r in line)
    assert (
        Transfer.objects.filter(idempotency_key__startswith=f"tournament:{cup.pk}:fee:").count()
        == 16
    )
    # Decided one at a time: the waitlist events, in commit order, count 1, 2, 3, ...
    waitlisted = Event.objects.filter(kind="tournament.waitlisted").order_by("seq")
    assert [e.data["waitlist_position"] for e in waitlisted] == list(range(1, 49))
    assert Event.objects.filter(kind="tournament.registered").count() == 16
    assert_clean()

    # Second in line cannot pay when their turn comes.
    poor = line[1]
    spend(Ref(poor.member_id), 100, sink="shop", reason="spent it all", idempotency_key="poor")
    expected = [r.pk for r in line if r.pk != poor.pk][:LEAVING]
    leaving = seated[:LEAVING]

    outcomes = at_once([("withdraw", (r.pk,)) for r in leaving])

    refusals = [o for o in outcomes if o[0] != "ok"]
    assert not refusals, refusals
    promoted_by_calls = [pk for o in outcomes for pk in o[2]]
    assert sorted(promoted_by_calls) == sorted(expected)
    # Promoted in waitlist order: the promotion events, in commit order.
    promotions = Event.objects.filter(kind="tournament.promoted").order_by("seq")
    assert [e.data["registration_id"] for e in promotions] == expected
    for registration in leaving:
        registration.refresh_from_db()
        assert registration.status == "withdrawn"
        assert Transfer.objects.get(pk=registration.refund_transfer_id).reverses_id == (
            registration.fee_transfer_id
        )
        assert balance(registration.member_id) == 100
    for pk in expected:
        registration = Registration.objects.get(pk=pk)
        assert registration.status == "registered"
        assert Transfer.objects.get(pk=registration.fee_transfer_id).idempotency_key == (
            f"tournament:{cup.pk}:fee:{pk}"
        )
    # The one who could not pay: skipped, and nothing of theirs remains.
    assert not Registration.objects.filter(pk=poor.pk).exists()
    assert not Registration.objects.filter(tournament=cup, member_id=poor.member_id).exists()
    assert not Transfer.objects.filter(idempotency_key=f"tournament:{cup.pk}:fee:{poor.pk}")
    assert balance(poor.member_id) == 0
    [skipped] = Event.objects.filter(kind="tournament.promotion_skipped")
    assert skipped.data["registration_id"] == poor.pk
    # The rest of the line moved up, in its order, without gaps.
    rest = [r.pk for r in line if r.pk != poor.pk][LEAVING:]
    assert list(
        Registration.objects.filter(tournament=cup, status="waitlisted")
        .order_by("waitlist_position")
        .values_list("pk", "waitlist_position")
    ) == [(pk, n) for n, pk in enumerate(rest, start=1)]
    cup.refresh_from_db()
    assert (cup.active_count, cup.waitlist_count) == (16, 39)
    assert_clean()


def test_one_member_registering_from_8_processes_gets_one_registration_and_pays_once():
    cup = TournamentFactory(capacity=4, entry_fee=FEE)
    member = MemberFactory().pk
    outcomes = at_once([("register", (cup.pk, member))] * 8)
    assert {o[0] for o in outcomes} == {"ok"}
    assert len({o[1] for o in outcomes}) == 1
    assert sorted(o[3] for o in outcomes) == [False] * 7 + [True]
    registration = Registration.objects.get(tournament=cup)
    assert registration.status == "registered"
    assert Transfer.objects.filter(kind="purchase").count() == 1
    assert balance(member) == 100 - FEE
    assert Tournament.objects.get(pk=cup.pk).active_count == 1
    assert_clean()


def test_check_ins_racing_the_close_end_consistent():
    cup = TournamentFactory(capacity=16, entry_fee=FEE)
    members = [MemberFactory().pk for _ in range(20)]
    for member in members:
        register(Ref(cup.pk), Ref(member))
    open_check_in(cup)
    seated = list(Registration.objects.filter(tournament=cup, status="registered"))
    jobs = [("check_in", (r.pk,)) for r in seated] + [("close", (cup.pk,))]
    outcomes = at_once(jobs)
    # A check-in either came first or found check-in closed.
    assert {o[1] for o in outcomes if o[0] == "refused"} <= {"NotCheckInTime"}
    checked = Registration.objects.filter(
        pk__in=[r.pk for r in seated], status="checked_in"
    ).count()
    assert checked == sum(1 for o in outcomes if o[0] == "ok") - 1  # all but the close
    cup.refresh_from_db()
    assert cup.status == "in_progress"
    statuses = list(Registration.objects.filter(tournament=cup).values_list("status", flat=True))
    # Slots of no-shows went to the waitlist (4 waiting), checked in at the close.
    assert statuses.count("checked_in") == cup.active_count == min(16, checked + 4)
    assert statuses.count("no_show") == 16 - checked
    assert_clean()
