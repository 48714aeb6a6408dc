"""Creating a tournament, its status changes, check-in and cancelling: what each action does,
the events it publishes, what it refuses writing nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from events.models import Event
from ledger.models import Account, Transfer
from tests.factories import TournamentFactory
from tests.helpers import refused_writing_nothing
from tests.tournaments.helpers import (
    balance,
    events_of,
    everything,
    fill,
    last_seq,
    reload,
    settle,
    waitlist,
)
from tournaments.actions import (
    cancel,
    check_in,
    close_check_in,
    create_tournament,
    open_check_in,
    open_registration,
    register,
    update_tournament,
    withdraw,
)
from tournaments.exceptions import (
    IllegalTransition,
    InvalidTournament,
    NotCheckInTime,
    NotRegistered,
    RegistrationClosed,
)

pytestmark = pytest.mark.django_db


def terms(**overrides) -> dict:
    now = timezone.now()
    values = {
        "name": "Autumn Open",
        "game": "chess",
        "currency": "points",
        "entry_fee": 5,
        "capacity": 8,
        "registration_opens_at": now,
        "registration_closes_at": now + timedelta(days=1),
        "check_in_opens_at": now + timedelta(days=1),
        "check_in_closes_at": now + timedelta(days=1, hours=1),
        "prize_table": {1: 50, "2": 20},
    }
    return {**values, **overrides}


# --- creating -----------------------------------------------------------------------


def test_create_tournament_makes_a_draft_and_publishes_it(staff):
    after = last_seq()
    cup = create_tournament(actor=staff, **terms())
    assert (cup.status, cup.active_count, cup.waitlist_count) == ("draft", 0, 0)
    assert cup.prize_table == {"1": 50, "2": 20}
    [event] = events_of("tournament.created", after)
    assert event.data["tournament_id"] == cup.pk
    assert (event.actor_id, event.subject) == (staff.pk, f"tournament:{cup.pk}")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"name": "  "}, "needs a name"),
        ({"name": "x" * 151}, "at most 150"),
        ({"name": "tab\there"}, "control characters"),
        ({"capacity": 1}, "capacity"),
        ({"capacity": True}, "capacity"),
        ({"entry_fee": -1}, "entry fee"),
        ({"entry_fee": 2.5}, "entry fee"),
        ({"waitlist_limit": -1}, "waitlist limit"),
        ({"currency": "gold"}, "no currency"),
        ({"format": "swiss"}, "unknown format"),
        ({"registration_closes_at": timezone.now() - timedelta(days=1)}, "in order"),
        ({"check_in_opens_at": timezone.now()}, "in order"),
        ({"registration_opens_at": timezone.now().replace(tzinfo=None)}, "aware"),
        ({"prize_table": [500]}, "maps placements"),
        ({"prize_table": {"0": 5}}, "from 1"),
        ({"prize_table": {"first": 5}}, "not a whole number"),
        ({"prize_table": {"1": 0}}, "positive"),
        ({"prize_table": {"1": "5"}}, "positive"),
        ({"prize_table": {"1": 5, 1: 6}}, "twice"),
    ],
)
def test_create_tournament_refuses_impossible_settings(overrides, message):
    error = refused_writing_nothing(
        InvalidTournament, lambda: create_tournament(**terms(**overrides))
    )
    assert message in str(error)


def test_a_draft_can_be_edited_until_registration_opens(staff):
    cup = TournamentFactory(status="draft", capacity=4)
    edited = update_tournament(cup, capacity=6, entry_fee=0, actor=staff)
    assert (reload(cup).capacity, cup.entry_fee) == (6, 0)
    assert events_of("tournament.updated")[-1].data["changed"] == ["capacity", "entry_fee"]
    assert update_tournament(edited, capacity=6) == edited  # nothing changed, nothing written
    open_registration(cup)
    refused_writing_nothing(IllegalTransition, lambda: update_tournament(cup, capacity=8))


def test_update_tournament_validates_like_create(db):
    cup = TournamentFactory(status="draft")
    refused_writing_nothing(InvalidTournament, lambda: update_tournament(cup, capacity=0))
    refused_writing_nothing(InvalidTournament, lambda: update_tournament(cup, status="completed"))


# --- status changes -------------------------------------------------------------------


def test_open_registration_moves_a_draft_on_and_opens_the_fee_account(staff):
    cup = TournamentFactory(status="draft")
    after = last_seq()
    open_registration(cup, actor=staff)
    assert reload(cup).status == "registration"
    [event] = events_of("tournament.status_changed", after)
    assert event.data == {
        "tournament_id": cup.pk,
        "from": "draft",
        "to": "registration",
    }
    assert Account.objects.filter(name=f"sink:tournament-{cup.pk}", member=None).exists()
    open_registration(cup)  # again: nothing changes
    assert len(events_of("tournament.status_changed", after)) == 1


def _draft():
    return TournamentFactory(status="draft")


def _open():
    return TournamentFactory()


def _cancelled():
    return cancel(TournamentFactory())


@pytest.mark.parametrize(
    ("action", "reach"),
    [
        (open_check_in, _draft),
        (close_check_in, _draft),
        (close_check_in, _open),
        (open_registration, _cancelled),
        (open_check_in, _cancelled),
    ],
)
def test_a_status_change_from_the_wrong_status_is_an_illegal_transition(db, action, reach):
    tournament = reach()
    error = refused_writing_nothing(IllegalTransition, lambda: action(tournament))
    assert error.current == reload(tournament).status


def test_a_cancelled_tournament_cannot_reopen(cup):
    cancel(cup)
    error = refused_writing_nothing(IllegalTransition, lambda: open_registration(cup))
    assert error.current == "cancelled"


def test_open_check_in_ends_registration(cup, alice):
    open_check_in(cup)
    assert reload(cup).status == "check_in"
    refused_writing_nothing(RegistrationClosed, lambda: register(cup, alice))


# --- check-in -------------------------------------------------------------------------


def test_check_in_confirms_a_registered_player(cup, alice, staff):
    registration = register(cup, alice)
    open_check_in(cup)
    after = last_seq()
    done = check_in(registration, actor=staff)
    assert (done.status, done.checked_in_at is not None) == ("checked_in", True)
    [event] = events_of("tournament.checked_in", after)
    assert event.data == {
        "tournament_id": cup.pk,
        "registration_id": registration.pk,
        "member_id": alice.pk,
    }
    before = everything()
    assert check_in(registration).pk == registration.pk  # again: as it is
    assert everything() == before


def test_check_in_before_check_in_opens_is_refused(cup, alice):
    registration = register(cup, alice)
    refused_writing_nothing(NotCheckInTime, lambda: check_in(registration))


def test_check_in_after_the_window_closed_is_refused(cup, alice, clock):
    registration = register(cup, alice)
    open_check_in(cup)
    clock.advance(days=2)
    error = refused_writing_nothing(NotCheckInTime, lambda: check_in(registration))
    assert "check-in closed at" in str(error)


def test_a_waitlisted_player_cannot_check_in(cup):
    fill(cup, 4)
    [waiting] = fill(cup, 1)
    open_check_in(cup)
    refused_writing_nothing(NotRegistered, lambda: check_in(waiting))


def test_close_check_in_marks_no_shows_and_fills_their_slots_from_the_waitlist(cup, staff):
    seated = fill(cup, 4)
    waiting = fill(cup, 3)
    open_check_in(cup)
    check_in(seated[0])
    check_in(seated[2])
    after = last_seq()
    closed = close_check_in(cup, actor=staff)
    assert closed.no_shows == [seated[1].pk, seated[3].pk]
    assert [p.pk for p in closed.promoted] == [waiting[0].pk, waiting[1].pk]
    assert [reload(r).status for r in seated] == ["checked_in", "no_show"] * 2
    assert [reload(r).status for r in waiting] == ["checked_in", "checked_in", "waitlisted"]
    assert reload(waiting[0]).checked_in_at is not None
    assert balance(seated[1].member) == 90  # a no-show's fee is not refunded
    assert balance(waiting[0].member) == 90
    assert waitlist(cup) == [(1, waiting[2].member_id)]
    assert (reload(cup).status, cup.active_count, cup.waitlist_count) == ("in_progress", 4, 1)
    [no_show] = events_of("tournament.no_show", after)
    assert no_show.data["registration_ids"] == [seated[1].pk, seated[3].pk]
    assert len(events_of("tournament.promoted", after)) == 2
    [started] = events_of("tournament.status_changed", after)
    assert started.data == {
        "tournament_id": cup.pk,
        "from": "check_in",
        "to": "in_progress",
        "no_shows": 2,
        "promoted": 2,
        "checked_in": 4,
    }
    refused_writing_nothing(NotCheckInTime, lambda: check_in(waiting[2]))


def test_a_withdrawal_during_check_in_promotes_a_registered_player_who_may_check_in(cup):
    seated = fill(cup, 4)
    [waiting] = fill(cup, 1)
    open_check_in(cup)
    withdraw(seated[0])
    assert reload(waiting).status == "registered"
    assert check_in(waiting).status == "checked_in"


# --- cancelling -----------------------------------------------------------------------


def test_cancel_refunds_every_fee_and_withdraws_everyone(cup, staff):
    seated = fill(cup, 4)
    waiting = fill(cup, 2)
    after = last_seq()
    cancel(cup, reason="venue flooded", actor=staff)
    assert reload(cup).status == "cancelled"
    assert (cup.active_count, cup.waitlist_count) == (0, 0)
    for registration in seated:
        registration = reload(registration)
        assert registration.status == "withdrawn"
        refund = Transfer.objects.get(pk=registration.refund_transfer_id)
        assert refund.reverses_id == registration.fee_transfer_id
        assert balance(registration.member) == 100
    assert [reload(r).status for r in waiting] == ["withdrawn", "withdrawn"]
    [event] = events_of("tournament.status_changed", after)
    assert event.data["refunded"] == 4
    assert event.data["reason"] == "venue flooded"
    before = everything()
    assert cancel(cup).status == "cancelled"
    assert everything() == before


def test_every_event_names_its_tournament(cup):
    seated = fill(cup, 4)
    fill(cup, 2)
    withdraw(seated[0])
    open_check_in(cup)
    check_in(seated[1])
    close_check_in(cup)
    published = Event.objects.filter(kind__startswith="tournament.")
    assert published.count() > 10
    for event in published:
        assert event.data["tournament_id"] == cup.pk, event.kind
        assert event.subject == f"tournament:{cup.pk}"


def test_actions_write_nothing_inconsistent(cup):
    """Everything the actions wrote passes the deferred checks (also run after every test
    by the conftest)."""
    seated = fill(cup, 4)
    fill(cup, 3)
    withdraw(seated[0])
    settle()
    assert reload(cup).waitlist_count == 2
