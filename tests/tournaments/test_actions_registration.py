"""Registering for a tournament, one at a time and many at once (imports): the seat or the
waitlist, the entry fee, the events, and what is refused writing nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from config.db import Ref
from ledger.actions import spend
from ledger.exceptions import InsufficientFunds
from ledger.models import Posting, Transfer
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
from tournaments.actions import disqualify, register, register_many, withdraw
from tournaments.actions import registration as actions
from tournaments.exceptions import Disqualified, InvalidRequest, RegistrationClosed, TournamentFull
from tournaments.models import Registration

pytestmark = pytest.mark.django_db

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
