"""Leaving a tournament: withdrawing (the refund, the waitlist moving up) and being
disqualified, and what each refuses writing nothing."""

from __future__ import annotations

import pytest

from config.db import Ref
from ledger.actions import spend
from ledger.models import Transfer
from tests.factories import MemberFactory, TournamentFactory
from tests.helpers import refused_writing_nothing
from tests.tournaments.helpers import (
    balance,
    events_of,
    everything,
    fill,
    last_seq,
    reload,
    waitlist,
)
from tournaments.actions import (
    check_in,
    close_check_in,
    disqualify,
    open_check_in,
    register,
    withdraw,
)
from tournaments.exceptions import InvalidRequest, NotRegistered, TournamentStarted
from tournaments.models import Registration

pytestmark = pytest.mark.django_db

# --- withdrawing ----------------------------------------------------------------------


def test_withdraw_refunds_the_fee_and_promotes_the_first_in_line(cup, staff):
    seated = fill(cup, 4)
    waiting = fill(cup, 3)
    after = last_seq()
    gone = withdraw(seated[1], actor=staff)
    assert gone.status == "withdrawn"
    refund = Transfer.objects.get(pk=gone.refund_transfer_id)
    assert refund.reverses_id == seated[1].fee_transfer_id
    assert refund.idempotency_key == f"tournament:{cup.pk}:refund:{gone.pk}"
    assert balance(gone.member) == 100
    promoted = reload(waiting[0])
    assert (promoted.status, promoted.waitlist_position) == ("registered", None)
    assert Transfer.objects.get(pk=promoted.fee_transfer_id).idempotency_key == (
        f"tournament:{cup.pk}:fee:{promoted.pk}"
    )
    assert balance(promoted.member) == 90
    assert [p.pk for p in gone.promoted] == [promoted.pk]
    assert waitlist(cup) == [(1, waiting[1].member_id), (2, waiting[2].member_id)]
    assert (reload(cup).active_count, cup.waitlist_count) == (4, 2)
    [left] = events_of("tournament.withdrawn", after)
    assert left.data["refund_transfer_id"] == refund.pk
    assert left.data["was"] == "registered"
    [moved] = events_of("tournament.promoted", after)
    assert moved.data == {
        "tournament_id": cup.pk,
        "registration_id": promoted.pk,
        "member_id": promoted.member_id,
        "status": "registered",
        "from_position": 1,
        "transfer_id": promoted.fee_transfer_id,
        "active_count": 4,
        "waitlist_count": 2,
        "capacity": 4,
    }
    assert left.seq < moved.seq


def test_leaving_the_waitlist_closes_its_gap(cup):
    fill(cup, 4)
    waiting = fill(cup, 4)
    gone = withdraw(waiting[1])
    assert (gone.status, gone.waitlist_position, gone.refund_transfer_id) == (
        "withdrawn",
        None,
        None,
    )
    assert waitlist(cup) == [(1, waiting[0].member_id), (2, waiting[2].member_id),
                             (3, waiting[3].member_id)]  # fmt: skip
    assert (reload(cup).active_count, cup.waitlist_count) == (4, 3)


def test_withdrawing_twice_returns_the_registration_and_writes_nothing(cup, alice):
    first = withdraw(register(cup, alice))
    before = everything()
    again = withdraw(first)
    assert (again.pk, again.status, again.promoted) == (first.pk, "withdrawn", [])
    assert everything() == before


def test_a_waitlisted_player_who_cannot_pay_is_skipped_and_nothing_of_theirs_remains(cup):
    seated = fill(cup, 4)
    poor, next_in_line, last = fill(cup, 3)
    spend(poor.member, 95, sink="shop", reason="shopping", idempotency_key="broke")
    after = last_seq()
    withdraw(seated[0])
    assert not Registration.objects.filter(pk=poor.pk).exists()
    assert not Transfer.objects.filter(
        idempotency_key__startswith=f"tournament:{cup.pk}:fee:{poor.pk}"
    )
    assert balance(poor.member) == 5
    assert reload(next_in_line).status == "registered"
    assert waitlist(cup) == [(1, last.member_id)]
    [skipped] = events_of("tournament.promotion_skipped", after)
    assert skipped.data["member_id"] == poor.member_id
    assert skipped.data["waitlist_position"] == 1
    assert "5 points available, 10 needed" in skipped.data["reason"]
    assert (reload(cup).active_count, cup.waitlist_count) == (4, 1)


def test_when_nobody_in_line_can_pay_the_slot_stays_free(cup):
    seated = fill(cup, 4)
    waiting = fill(cup, 2)
    for n, registration in enumerate(waiting):
        spend(registration.member, 100, sink="shop", reason="x", idempotency_key=f"broke-{n}")
    withdraw(seated[0])
    assert (reload(cup).active_count, cup.waitlist_count) == (3, 0)
    assert waitlist(cup) == []


def test_a_free_tournament_refunds_nothing(alice, bob):
    free = TournamentFactory(entry_fee=0, capacity=2)
    first = register(free, alice)
    register(free, bob)
    waiting = register(free, MemberFactory())
    gone = withdraw(first)
    assert gone.refund_transfer_id is None
    assert reload(waiting).status == "registered"


def test_withdrawing_once_the_tournament_started_is_refused(cup):
    seated = fill(cup, 2)
    open_check_in(cup)
    check_in(seated[0])
    check_in(seated[1])
    close_check_in(cup)
    refused_writing_nothing(TournamentStarted, lambda: withdraw(seated[0]))


def test_withdrawing_a_no_show_is_refused(cup):
    seated = fill(cup, 2)
    open_check_in(cup)
    check_in(seated[0])
    close_check_in(cup)
    assert reload(seated[1]).status == "no_show"
    refused_writing_nothing(NotRegistered, lambda: withdraw(seated[1]))


def test_withdraw_needs_a_saved_registration(cup):
    refused_writing_nothing(InvalidRequest, lambda: withdraw(Ref(10**9)))


# --- disqualifying --------------------------------------------------------------------


def test_disqualify_keeps_the_fee_and_promotes(cup, staff):
    seated = fill(cup, 4)
    [waiting] = fill(cup, 1)
    out = disqualify(seated[0], reason="cheating", actor=staff)
    assert (out.status, out.refund_transfer_id) == ("disqualified", None)
    assert balance(out.member) == 90
    assert reload(waiting).status == "registered"
    assert events_of("tournament.disqualified")[-1].data["reason"] == "cheating"


def test_disqualify_refuses_the_waitlisted_and_after_the_start(cup):
    fill(cup, 4)
    [waiting] = fill(cup, 1)
    refused_writing_nothing(NotRegistered, lambda: disqualify(waiting))
