"""What each tournament action does, the events it publishes, what it refuses, and that a
refusal writes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from config.db import Ref
from events.models import Event
from ledger.actions import spend
from ledger.exceptions import InsufficientFunds
from ledger.models import Account, Posting, Transfer
from tests.factories import MemberFactory, TournamentFactory
from tests.helpers import refused_writing_nothing, table_contents
from tests.tournaments.helpers import events_of, last_seq, reload, settle, waitlist
from tournaments.actions import (
    cancel,
    check_in,
    close_check_in,
    create_tournament,
    disqualify,
    open_check_in,
    open_registration,
    register,
    register_many,
    update_tournament,
    withdraw,
)
from tournaments.actions import registration as actions
from tournaments.exceptions import (
    Disqualified,
    IllegalTransition,
    InvalidRequest,
    InvalidTournament,
    NotCheckInTime,
    NotRegistered,
    RegistrationClosed,
    TournamentFull,
    TournamentStarted,
)
from tournaments.models import Registration

pytestmark = pytest.mark.django_db

APPS = ("accounts", "events", "ledger", "tournaments")


def everything() -> dict:
    return table_contents(*APPS)


def balance(member, currency: str = "points") -> int:
    return Account.objects.get(member=member, currency__code=currency).balance


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


def fill(tournament, count: int) -> list[Registration]:
    return [register(tournament, member) for member in [MemberFactory() for _ in range(count)]]


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


# --- registering --------------------------------------------------------------------


def test_register_takes_a_slot_and_pays_the_fee(cup, alice, staff):
    after = last_seq()
    registration = register(cup, alice, actor=staff)
    assert registration.created is True
    stored = Registration.objects.get(pk=registration.pk)
    assert (stored.status, stored.waitlist_position) == ("registered", None)
    fee = Transfer.objects.get(pk=stored.fee_transfer_id)
    assert fee.idempotency_key == f"tournament:{cup.pk}:fee:{registration.pk}"
    assert (fee.kind, fee.actor_id) == ("purchase", staff.pk)
    assert fee.context == {"tournament_id": cup.pk, "registration_id": registration.pk}
    lines = set(
        Posting.objects.filter(transfer=fee).values_list(
            "account__member_id", "account__name", "amount"
        )
    )
    assert lines == {(alice.pk, "", -10), (None, f"sink:tournament-{cup.pk}", 10)}
    assert balance(alice) == 90
    assert (reload(cup).active_count, cup.waitlist_count) == (1, 0)
    [event] = events_of("tournament.registered", after)
    assert event.data == {
        "tournament_id": cup.pk,
        "registration_id": registration.pk,
        "member_id": alice.pk,
        "status": "registered",
        "waitlist_position": None,
        "transfer_id": fee.pk,
        "fee": 10,
        "active_count": 1,
        "waitlist_count": 0,
        "capacity": 4,
    }
    assert (event.subject, event.actor_id) == (f"tournament:{cup.pk}", staff.pk)
    assert registration.event.seq == event.seq


def test_the_returned_registration_is_exactly_the_row_written(cup, alice):
    registration = register(cup, alice)
    stored = Registration.objects.get(pk=registration.pk)
    fields = [f.attname for f in Registration._meta.concrete_fields]
    assert {f: getattr(registration, f) for f in fields} == {f: getattr(stored, f) for f in fields}


def test_past_the_capacity_players_are_waitlisted_in_order_and_not_charged(cup, players):
    seated = fill(cup, 4)
    late = players(3)
    after = last_seq()
    waiting = [register(cup, member) for member in late]
    assert [r.status for r in seated] == ["registered"] * 4
    assert [(r.status, r.waitlist_position, r.fee_transfer_id) for r in waiting] == [
        ("waitlisted", 1, None),
        ("waitlisted", 2, None),
        ("waitlisted", 3, None),
    ]
    assert [balance(member) for member in late] == [100, 100, 100]
    assert (reload(cup).active_count, cup.waitlist_count) == (4, 3)
    positions = [e.data["waitlist_position"] for e in events_of("tournament.waitlisted", after)]
    assert positions == [1, 2, 3]


def test_registering_twice_returns_the_registration_and_writes_nothing(cup, alice, players):
    first = register(cup, alice)
    fill(cup, 3)
    waiting = register(cup, MemberFactory())
    before = everything()
    again = register(cup, alice)
    assert (again.pk, again.created, again.event) == (first.pk, False, None)
    assert register(cup, Ref(waiting.member_id)).pk == waiting.pk
    assert everything() == before


def test_a_free_tournament_charges_nothing(alice):
    free = TournamentFactory(entry_fee=0)
    registration = register(free, alice)
    assert (registration.status, registration.fee_transfer_id) == ("registered", None)
    assert balance(alice) == 100


def test_a_player_who_cannot_pay_for_a_free_slot_is_refused_and_nothing_remains(cup, alice):
    spend(alice, 95, sink="shop", reason="shopping", idempotency_key="broke")
    error = refused_writing_nothing(InsufficientFunds, lambda: register(cup, alice))
    assert "5 points available, 10 needed" in str(error)


def test_a_player_who_cannot_pay_may_still_join_a_full_waitlist(cup, alice):
    fill(cup, 4)
    spend(alice, 100, sink="shop", reason="shopping", idempotency_key="broke")
    registration = register(cup, alice)
    assert (registration.status, registration.waitlist_position) == ("waitlisted", 1)


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ({"registration_opens_at": timezone.now() + timedelta(hours=1)}, "registration opens"),
        ({"registration_opens_at": timezone.now() - timedelta(days=3)}, "registration closed"),
    ],
)
def test_register_outside_the_window_is_refused(when, message, alice):
    opens = when["registration_opens_at"]
    cup = TournamentFactory(
        registration_opens_at=opens, registration_closes_at=opens + timedelta(days=1)
    )
    error = refused_writing_nothing(RegistrationClosed, lambda: register(cup, alice))
    assert message in str(error)


def test_register_in_a_draft_is_refused(alice):
    draft = TournamentFactory(status="draft")
    error = refused_writing_nothing(RegistrationClosed, lambda: register(draft, alice))
    assert "is draft" in str(error)


def test_without_a_waitlist_a_full_tournament_raises_tournament_full(alice):
    cup = TournamentFactory(capacity=2, waitlist_limit=0)
    fill(cup, 2)
    refused_writing_nothing(TournamentFull, lambda: register(cup, alice))


def test_a_full_waitlist_raises_tournament_full(alice):
    cup = TournamentFactory(capacity=2, waitlist_limit=1)
    fill(cup, 3)
    refused_writing_nothing(TournamentFull, lambda: register(cup, alice))


@pytest.mark.parametrize("member", [None, object(), Ref("1")])
def test_register_needs_a_saved_member(cup, member):
    refused_writing_nothing(InvalidRequest, lambda: register(cup, member))


def test_register_in_a_tournament_that_does_not_exist(alice):
    refused_writing_nothing(InvalidRequest, lambda: register(Ref(10**9), alice))


def test_a_member_who_withdrew_may_register_again_and_pays_again(cup, alice):
    first = register(cup, alice)
    withdraw(first)
    again = register(cup, alice)
    assert again.pk != first.pk
    assert again.status == "registered"
    fee = Transfer.objects.get(pk=again.fee_transfer_id)
    assert fee.idempotency_key == f"tournament:{cup.pk}:fee:{again.pk}"
    assert balance(alice) == 90


def test_register_inside_a_callers_transaction(cup, alice, bob):
    with transaction.atomic():
        register(cup, alice)
        register(cup, bob)
    assert reload(cup).active_count == 2


def test_a_refusal_inside_a_callers_transaction_leaves_it_usable(cup, alice, bob):
    spend(alice, 100, sink="shop", reason="shopping", idempotency_key="broke")
    with transaction.atomic():
        with pytest.raises(InsufficientFunds):
            register(cup, alice)
        register(cup, bob)
    assert list(Registration.objects.values_list("member_id", flat=True)) == [bob.pk]


@pytest.mark.postgres
def test_an_early_fee_for_a_slot_taken_meanwhile_is_rolled_back(cup, alice, monkeypatch):
    """A registration that saw a free slot pays before taking the lock; if the slot went
    meanwhile it rolls back (charge and all) and joins the waitlist unpaid."""
    fill(cup, 4)
    real = actions._read_open
    monkeypatch.setattr(
        actions,
        "_read_open",
        lambda *args: (lambda seen: setattr(seen, "active", 0) or seen)(real(*args)),
    )
    registration = register(cup, alice)
    assert (registration.status, registration.waitlist_position) == ("waitlisted", 1)
    assert balance(alice) == 100
    assert not Transfer.objects.filter(idempotency_key__contains=f":fee:{registration.pk}")
    assert not Transfer.objects.filter(postings__account__member=alice, kind="purchase").exists()


def test_a_slot_seen_as_taken_but_free_is_paid_under_the_lock(cup, alice, monkeypatch):
    real = actions._read_open
    monkeypatch.setattr(
        actions,
        "_read_open",
        lambda *args: (lambda seen: setattr(seen, "active", seen.capacity) or seen)(real(*args)),
    )
    registration = register(cup, alice)
    assert registration.status == "registered"
    assert balance(alice) == 90


def test_a_disqualified_member_may_not_register_again(cup, alice):
    disqualify(register(cup, alice))
    refused_writing_nothing(Disqualified, lambda: register(cup, alice))


# --- registering many at once (imports) --------------------------------------------------


def test_register_many_seats_then_waitlists_in_the_order_given(cup, staff):
    before = fill(cup, 1)
    members = [MemberFactory() for _ in range(5)]
    after = last_seq()
    outcomes = register_many(cup, [before[0].member, *members, members[0]], actor=staff)
    assert [o.outcome for o in outcomes] == [
        "already",
        "registered",
        "registered",
        "registered",
        "waitlisted",
        "waitlisted",
        "already",
    ]
    assert [o.member_id for o in outcomes][1:6] == [m.pk for m in members]
    assert waitlist(cup) == [(1, members[3].pk), (2, members[4].pk)]
    for outcome in outcomes[1:4]:
        fee = Transfer.objects.get(pk=outcome.registration.fee_transfer_id)
        assert fee.idempotency_key == f"tournament:{cup.pk}:fee:{outcome.registration.pk}"
    assert (reload(cup).active_count, cup.waitlist_count) == (4, 2)
    [event] = events_of("tournament.registered_many", after)
    assert event.data == {
        "tournament_id": cup.pk,
        "registered": 3,
        "waitlisted": 2,
        "active_count": 4,
        "waitlist_count": 2,
        "capacity": 4,
    }
    assert event.actor_id == staff.pk


def test_register_many_refuses_all_or_answers_each(alice, bob):
    cup = TournamentFactory(capacity=2, waitlist_limit=0)
    carol, dave, erin = MemberFactory(), MemberFactory(), MemberFactory()
    spend(bob, 100, sink="shop", reason="x", idempotency_key="broke")
    disqualify(register(cup, dave))
    refused_writing_nothing(InsufficientFunds, lambda: register_many(cup, [alice, bob]))
    refused_writing_nothing(Disqualified, lambda: register_many(cup, [dave]))
    refused_writing_nothing(TournamentFull, lambda: register_many(cup, [alice, carol, erin]))
    outcomes = register_many(cup, [bob, dave, alice, carol, erin], skip_refused=True)
    assert [o.outcome for o in outcomes] == [
        "short",
        "disqualified",
        "registered",
        "registered",
        "full",
    ]
    assert "0 points available" in outcomes[0].reason


def test_register_many_needs_an_open_tournament(alice):
    draft = TournamentFactory(status="draft")
    refused_writing_nothing(RegistrationClosed, lambda: register_many(draft, [alice]))


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
