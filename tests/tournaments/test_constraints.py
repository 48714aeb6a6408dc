"""Every tournament rule the database holds, proven with raw SQL that skips the ORM and
the actions. Check and unique constraints run on both backends; the triggers (legal
transitions, fixed terms, counters that agree with the rows, a gap-free waitlist, paid
slots, decided matches) on PostgreSQL only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from tests.factories import MemberFactory, TournamentFactory
from tests.helpers import insert, refused, sql, table_contents
from tournaments.actions import (
    check_in,
    close_check_in,
    generate_bracket,
    open_check_in,
    record_result,
    register,
)
from tournaments.models import Match, Registration, Tournament

pytestmark = pytest.mark.django_db

APPS = ("accounts", "events", "ledger", "tournaments")
NOW = timezone.now()


def without_triggers() -> None:
    """PostgreSQL: skip the (BEFORE) triggers for the rest of the transaction, so a CHECK
    is proven by itself rather than by a trigger that refuses the row first."""
    if connection.vendor == "postgresql":
        sql("SET CONSTRAINTS ALL IMMEDIATE")
        sql("SET LOCAL session_replication_role = replica")


def points_id() -> int:
    return sql("SELECT id FROM ledger_currency WHERE code = 'points'")[0][0]


def tournament_row(**overrides) -> tuple[str, list]:
    values = {
        "name": "Raw Cup",
        "game": "",
        "currency_id": points_id(),
        "entry_fee": 0,
        "capacity": 4,
        "waitlist_limit": None,
        "format": "single_elimination",
        "registration_opens_at": NOW,
        "registration_closes_at": NOW + timedelta(days=1),
        "check_in_opens_at": NOW + timedelta(days=1),
        "check_in_closes_at": NOW + timedelta(days=2),
        "prize_table": "{}",
        "status": "draft",
        "active_count": 0,
        "waitlist_count": 0,
        "prize_transfer_id": None,
        "created_at": NOW,
        "status_changed_at": NOW,
        **overrides,
    }
    return insert("tournaments_tournament", **values)


def registration_row(tournament, member, **overrides) -> tuple[str, list]:
    values = {
        "tournament_id": tournament.pk,
        "member_id": member.pk,
        "status": "registered",
        "waitlist_position": None,
        "seed": None,
        "placement": None,
        "fee_transfer_id": None,
        "refund_transfer_id": None,
        "created_at": NOW,
        "status_changed_at": NOW,
        "checked_in_at": None,
        **overrides,
    }
    return insert("tournaments_registration", **values)


def seat(tournament, member, **overrides) -> None:
    """A raw registration the counters agree with (one statement on PostgreSQL: the
    deferred check may run at its end)."""
    statement, params = registration_row(tournament, member, **overrides)
    waitlisted = overrides.get("status") == "waitlisted"
    counter = "waitlist_count" if waitlisted else "active_count"
    if connection.vendor == "postgresql":
        sql(
            f"WITH r AS ({statement} RETURNING id) UPDATE tournaments_tournament"
            f" SET {counter} = {counter} + 1 WHERE id = %s AND EXISTS (SELECT FROM r)",
            [*params, tournament.pk],
        )
    else:
        sql(statement, params)
        sql(f"UPDATE tournaments_tournament SET {counter} = {counter} + 1 WHERE id = %s",
            [tournament.pk])  # fmt: skip


@pytest.fixture
def free(db) -> Tournament:
    """An open tournament without an entry fee, 4 slots."""
    return TournamentFactory(entry_fee=0, capacity=4)


@pytest.fixture
def paid(db) -> Tournament:
    return TournamentFactory(entry_fee=10, capacity=4)


# --- tournament ---------------------------------------------------------------------------


def test_a_well_formed_tournament_row_is_accepted(db):
    sql(*tournament_row())
    assert Tournament.objects.filter(name="Raw Cup", status="draft").exists()


@pytest.mark.parametrize(
    ("overrides", "constraint"),
    [
        ({"status": "paused"}, "tournaments_tournament_status_valid"),
        ({"format": "swiss"}, "tournaments_tournament_format_valid"),
        ({"name": ""}, "tournaments_tournament_name_not_blank"),
        ({"entry_fee": -1}, "tournaments_tournament_fee_not_negative"),
        ({"capacity": 1}, "tournaments_tournament_capacity_at_least_two"),
        ({"active_count": 5}, "tournaments_tournament_seats_within_capacity"),
        ({"active_count": -1}, "tournaments_tournament_seats_within_capacity"),
        ({"waitlist_count": -1}, "tournaments_tournament_waitlist_within_limit"),
        (
            {"waitlist_limit": 2, "waitlist_count": 3},
            "tournaments_tournament_waitlist_within_limit",
        ),
        ({"registration_closes_at": NOW}, "tournaments_tournament_windows_in_order"),
        ({"check_in_opens_at": NOW}, "tournaments_tournament_windows_in_order"),
        (
            {"check_in_closes_at": NOW + timedelta(days=1)},
            "tournaments_tournament_windows_in_order",
        ),
    ],
)
def test_tournament_checks(db, overrides, constraint):
    without_triggers()
    refused(*tournament_row(**overrides), constraint=constraint)


def test_a_waitlist_limit_of_zero_means_no_waitlist(db):
    refused(
        *tournament_row(waitlist_limit=0, waitlist_count=1),
        constraint="tournaments_tournament_waitlist_within_limit",
    )


def test_prizes_are_recorded_only_on_a_completed_tournament(db, alice):
    transfer_id = sql("SELECT id FROM ledger_transfer LIMIT 1")[0][0]
    without_triggers()
    refused(
        *tournament_row(prize_transfer_id=transfer_id),
        constraint="tournaments_tournament_prizes_when_completed",
    )


@pytest.mark.postgres
@pytest.mark.parametrize("status", ["registration", "completed", "cancelled"])
def test_a_tournament_starts_as_a_draft(db, status):
    refused(*tournament_row(status=status), constraint="a tournament starts as a draft")


def tournament_in(status: str) -> int:
    """A raw tournament row in `status`, got there without the triggers."""
    without_triggers()
    (pk,) = sql(tournament_row()[0] + " RETURNING id", tournament_row()[1])[0]
    sql("UPDATE tournaments_tournament SET status = %s WHERE id = %s", [status, pk])
    sql("SET LOCAL session_replication_role = origin")
    return pk


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("draft", "check_in"),
        ("draft", "in_progress"),
        ("draft", "completed"),
        ("registration", "draft"),
        ("registration", "in_progress"),
        ("check_in", "registration"),
        ("in_progress", "check_in"),
        ("completed", "registration"),
        ("completed", "cancelled"),
        ("cancelled", "draft"),
        ("cancelled", "registration"),
    ],
)
def test_only_legal_transitions_are_accepted(db, source, target):
    pk = tournament_in(source)
    refused(
        "UPDATE tournaments_tournament SET status = %s WHERE id = %s",
        [target, pk],
        constraint=f"tournament {pk}: {source} -> {target} is not a legal transition",
    )


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("draft", "registration"),
        ("registration", "check_in"),
        ("check_in", "in_progress"),
        ("in_progress", "completed"),
        ("draft", "cancelled"),
        ("registration", "cancelled"),
        ("check_in", "cancelled"),
        ("in_progress", "cancelled"),
    ],
)
def test_legal_transitions_are_accepted(db, source, target):
    pk = tournament_in(source)
    sql("UPDATE tournaments_tournament SET status = %s WHERE id = %s", [target, pk])
    assert Tournament.objects.get(pk=pk).status == target


@pytest.mark.postgres
@pytest.mark.parametrize(
    "assignment",
    [
        "entry_fee = entry_fee + 1",
        "capacity = capacity + 1",
        "waitlist_limit = 3",
        "format = 'round_robin'",
        "prize_table = '{\"1\": 5}'",
        "currency_id = (SELECT id FROM ledger_currency WHERE code = 'credits')",
    ],
)
def test_the_terms_are_fixed_once_registration_opens(free, assignment):
    refused(
        f"UPDATE tournaments_tournament SET {assignment} WHERE id = %s",
        [free.pk],
        constraint="are fixed once it leaves draft",
    )


@pytest.mark.postgres
def test_a_draft_may_change_its_terms_and_an_open_tournament_its_name(free):
    draft = TournamentFactory(status="draft")
    sql("UPDATE tournaments_tournament SET capacity = 16, entry_fee = 3 WHERE id = %s", [draft.pk])
    sql("UPDATE tournaments_tournament SET name = 'Renamed' WHERE id = %s", [free.pk])
    assert Tournament.objects.get(pk=draft.pk).capacity == 16
    assert Tournament.objects.get(pk=free.pk).name == "Renamed"


@pytest.mark.postgres
def test_only_drafts_may_be_deleted(free):
    draft = TournamentFactory(status="draft")
    sql("DELETE FROM tournaments_tournament WHERE id = %s", [draft.pk])
    refused(
        "DELETE FROM tournaments_tournament WHERE id = %s",
        [free.pk],
        constraint=f"tournament {free.pk} is registration (only drafts may be deleted)",
    )


@pytest.mark.postgres
def test_a_counter_that_disagrees_with_the_rows_is_refused(free):
    refused(
        "UPDATE tournaments_tournament SET active_count = 1 WHERE id = %s",
        [free.pk],
        constraint=f"tournament {free.pk}: 0 registrations hold a slot, active_count says 1",
    )


# --- registration -------------------------------------------------------------------------


def test_well_formed_registration_rows_are_accepted(free, alice, bob):
    seat(free, alice)
    seat(free, bob, status="waitlisted", waitlist_position=1)
    assert set(Registration.objects.values_list("status", "waitlist_position")) == {
        ("registered", None),
        ("waitlisted", 1),
    }


@pytest.mark.parametrize("second", ["registered", "waitlisted"])
def test_a_member_has_one_current_registration_per_tournament(free, alice, second):
    seat(free, alice)
    position = 1 if second == "waitlisted" else None
    refused(
        *registration_row(free, alice, status=second, waitlist_position=position),
        constraint="tournaments_registration_one_active_per_member",
        unique=True,
    )


def test_a_member_who_left_may_register_again(free, alice):
    seat(free, alice)
    sql("UPDATE tournaments_registration SET status = 'withdrawn'")
    sql("UPDATE tournaments_tournament SET active_count = 0 WHERE id = %s", [free.pk])
    seat(free, alice)
    assert Registration.objects.filter(member=alice).count() == 2


def test_two_players_never_share_a_waitlist_position(free, alice, bob):
    seat(free, alice, status="waitlisted", waitlist_position=1)
    refused(
        *registration_row(free, bob, status="waitlisted", waitlist_position=1),
        constraint="tournaments_registration_waitlist_position_unique",
        unique=True,
    )


@pytest.mark.parametrize(
    ("overrides", "constraint"),
    [
        ({"status": "playing"}, "tournaments_registration_status_valid"),
        ({"status": "waitlisted"}, "tournaments_registration_position_iff_waitlisted"),
        ({"status": "waitlisted", "waitlist_position": 0},
         "tournaments_registration_position_iff_waitlisted"),
        ({"waitlist_position": 1}, "tournaments_registration_position_iff_waitlisted"),
        ({"status": "withdrawn", "waitlist_position": 2},
         "tournaments_registration_position_iff_waitlisted"),
        ({"status": "checked_in"}, "tournaments_registration_checked_in_at"),
        ({"seed": 0}, "tournaments_registration_seed_placement_positive"),
        ({"placement": 0}, "tournaments_registration_seed_placement_positive"),
    ],
)  # fmt: skip
def test_registration_checks(free, alice, overrides, constraint):
    without_triggers()
    refused(*registration_row(free, alice, **overrides), constraint=constraint)


def test_a_waitlisted_player_has_paid_nothing(paid, alice):
    fee = sql("SELECT id FROM ledger_transfer LIMIT 1")[0][0]
    without_triggers()
    refused(
        *registration_row(paid, alice, status="waitlisted", waitlist_position=1,
                          fee_transfer_id=fee),
        constraint="tournaments_registration_waitlisted_unpaid",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("status", "with_fee"), [("registered", True), ("withdrawn", False), ("no_show", True)]
)
def test_only_a_withdrawal_of_a_paid_slot_has_a_refund(paid, alice, bob, status, with_fee):
    fee, refund = (row[0] for row in sql("SELECT id FROM ledger_transfer ORDER BY id LIMIT 2"))
    without_triggers()
    refused(
        *registration_row(
            paid, alice, status=status, fee_transfer_id=fee if with_fee else None,
            refund_transfer_id=refund,
        ),
        constraint="tournaments_registration_refund_when_withdrawn",
    )  # fmt: skip


def test_checking_in_records_the_time(paid, alice):
    registration = register(paid, alice)
    refused(
        "UPDATE tournaments_registration SET status = 'checked_in' WHERE id = %s",
        [registration.pk],
        constraint="tournaments_registration_checked_in_at",
    )


@pytest.mark.postgres
@pytest.mark.parametrize("status", ["checked_in", "withdrawn", "no_show", "disqualified"])
def test_a_registration_starts_registered_or_waitlisted(free, alice, status):
    refused(
        *registration_row(free, alice, status=status, checked_in_at=NOW),
        constraint="a registration starts registered or waitlisted",
    )


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("withdrawn", "registered"),
        ("no_show", "checked_in"),
        ("disqualified", "registered"),
        ("checked_in", "registered"),
        ("registered", "waitlisted"),
        ("checked_in", "no_show"),
    ],
)
def test_only_legal_registration_changes_are_accepted(paid, alice, source, target):
    registration = register(paid, alice)
    without_triggers()
    sql(
        "UPDATE tournaments_registration SET status = %s, checked_in_at = %s WHERE id = %s",
        [source, connection.ops.adapt_datetimefield_value(NOW), registration.pk],
    )
    sql("SET LOCAL session_replication_role = origin")
    refused(
        "UPDATE tournaments_registration SET status = %s WHERE id = %s",
        [target, registration.pk],
        constraint=f"registration {registration.pk}: {source} -> {target} is not a legal change",
    )


@pytest.mark.postgres
@pytest.mark.parametrize(
    "assignment",
    [
        "member_id = (SELECT max(id) FROM accounts_member)",
        "created_at = created_at - interval '1 day'",
        "tournament_id = (SELECT max(id) FROM tournaments_tournament)",
    ],
)
def test_a_registration_keeps_its_tournament_member_and_time(paid, alice, bob, assignment):
    registration = register(paid, alice)
    TournamentFactory()  # another tournament to move it to
    refused(
        f"UPDATE tournaments_registration SET {assignment} WHERE id = %s",
        [registration.pk],
        constraint="tournament, member and creation time are fixed",
    )


@pytest.mark.postgres
@pytest.mark.parametrize("column", ["fee_transfer_id", "refund_transfer_id"])
def test_a_fee_and_its_refund_are_recorded_once(paid, alice, bob, column):
    from tournaments.actions import withdraw

    gone = withdraw(register(paid, alice))
    other = register(paid, bob)
    refused(
        f"UPDATE tournaments_registration SET {column} = %s WHERE id = %s",
        [other.fee_transfer_id, gone.pk],
        constraint=f"registration {gone.pk}: its fee and refund are paid once",
    )


@pytest.mark.postgres
@pytest.mark.parametrize("status", ["registered", "withdrawn"])
def test_registrations_are_kept(paid, alice, status):
    registration = register(paid, alice)
    if status == "withdrawn":
        from tournaments.actions import withdraw

        withdraw(registration)
    refused(
        "DELETE FROM tournaments_registration WHERE id = %s",
        [registration.pk],
        constraint=f"registrations are kept: DELETE of registration {registration.pk}",
    )


@pytest.mark.postgres
def test_an_unpaid_waitlisted_registration_may_be_dropped(free):
    members = [MemberFactory() for _ in range(5)]
    for member in members:
        register(free, member)
    last = Registration.objects.get(waitlist_position=1)
    sql(
        "WITH gone AS (DELETE FROM tournaments_registration WHERE id = %s RETURNING 1)"
        " UPDATE tournaments_tournament SET waitlist_count = 0 WHERE id = %s"
        " AND EXISTS (SELECT FROM gone)",
        [last.pk, free.pk],
    )
    sql("SET CONSTRAINTS ALL IMMEDIATE")
    assert not Registration.objects.filter(pk=last.pk).exists()


@pytest.mark.postgres
def test_a_registration_the_counters_do_not_count_is_refused(free, alice):
    refused(
        *registration_row(free, alice),
        constraint=f"tournament {free.pk}: 1 registrations hold a slot, active_count says 0",
    )


@pytest.mark.postgres
def test_a_waitlist_with_a_gap_is_refused(free):
    for member in [MemberFactory() for _ in range(6)]:
        register(free, member)
    second = Registration.objects.get(waitlist_position=2)
    refused(
        "UPDATE tournaments_registration SET waitlist_position = 3 WHERE id = %s",
        [second.pk],
        constraint=f"tournament {free.pk}: 2 waitlisted up to position 3, waitlist_count says 2",
    )


@pytest.mark.postgres
def test_a_waitlist_counted_short_is_refused(free):
    for member in [MemberFactory() for _ in range(5)]:
        register(free, member)
    refused(
        "UPDATE tournaments_tournament SET waitlist_count = 0 WHERE id = %s",
        [free.pk],
        constraint=f"tournament {free.pk}: 1 waitlisted up to position 1, waitlist_count says 0",
    )


@pytest.mark.postgres
def test_an_unpaid_slot_in_a_paid_tournament_is_refused(paid, alice):
    statement, params = registration_row(paid, alice)
    refused(
        f"WITH r AS ({statement} RETURNING id) UPDATE tournaments_tournament"
        " SET active_count = 1 WHERE id = %s AND EXISTS (SELECT FROM r)",
        [*params, paid.pk],
        constraint=f"tournament {paid.pk}: 1 slots are held without their entry fee",
    )


@pytest.mark.postgres
def test_a_promotion_without_its_fee_is_refused(paid):
    for member in [MemberFactory() for _ in range(5)]:
        register(paid, member)
    first = Registration.objects.get(waitlist_position=1)
    seated = Registration.objects.filter(status="registered").first()
    # A withdrawal and a promotion that skips the fee, counters kept right.
    refused(
        "UPDATE tournaments_registration SET status = CASE WHEN id = %s THEN 'withdrawn'"
        " ELSE 'registered' END, waitlist_position = NULL WHERE id IN (%s, %s)",
        [seated.pk, seated.pk, first.pk],
        constraint=f"tournament {paid.pk}",
    )


@pytest.mark.postgres
def test_a_later_write_in_the_same_transaction_is_checked_again(free, alice, bob):
    """The check runs once per tournament per batch of writes: a consistent write checked
    (here at the end of its statement) does not excuse a later inconsistent one."""
    sql("SET CONSTRAINTS ALL IMMEDIATE")
    seat(free, alice)  # checked and recorded as verified
    before = table_contents(*APPS)
    with pytest.raises(IntegrityError, match="2 registrations hold a slot"), transaction.atomic():
        sql(*registration_row(free, bob))
    assert table_contents(*APPS) == before
    seat(free, bob)  # and the consistent version of it is fine
    assert Tournament.objects.get(pk=free.pk).active_count == 2


@pytest.mark.postgres
def test_the_check_at_commit_sees_the_final_state(free, alice, bob):
    """Deferred: counters may lag inside the transaction, as long as they agree at the end."""
    sql(*registration_row(free, alice))
    sql(*registration_row(free, bob))
    sql("UPDATE tournaments_tournament SET active_count = 2 WHERE id = %s", [free.pk])
    sql("SET CONSTRAINTS ALL IMMEDIATE")
    assert Tournament.objects.get(pk=free.pk).active_count == 2


# --- match ---------------------------------------------------------------------------------


@pytest.fixture
def started(db):
    """A free single-elimination cup in progress with four checked-in players, no
    bracket yet: (tournament, [registration ids])."""
    cup = TournamentFactory(entry_fee=0, capacity=4)
    players = [register(cup, MemberFactory()) for _ in range(4)]
    open_check_in(cup)
    for registration in players:
        check_in(registration)
    close_check_in(cup)
    return cup, [r.pk for r in players]


def match_row(tournament, **overrides) -> tuple[str, list]:
    values = {
        "tournament_id": tournament.pk,
        "round": 1,
        "slot": 1,
        "home_id": None,
        "away_id": None,
        "winner_id": None,
        "score": "",
        "status": "pending",
        "decided_at": None,
        **overrides,
    }
    return insert("tournaments_match", **values)


def test_well_formed_match_rows_are_accepted(started):
    cup, (a, b, c, d) = started
    sql(*match_row(cup, home_id=a, away_id=b, status="ready"))
    sql(*match_row(cup, slot=2, home_id=c, status="bye", winner_id=c, decided_at=NOW))
    sql(*match_row(cup, slot=3, home_id=d, away_id=a, winner_id=a, status="completed",
                   score="2-0", decided_at=NOW))  # fmt: skip
    sql(*match_row(cup, round=2))
    assert Match.objects.count() == 4


@pytest.mark.parametrize(
    ("overrides", "constraint"),
    [
        ({"status": "abandoned"}, "tournaments_match_status_consistent"),
        ({"round": 0}, "tournaments_match_round_slot_positive"),
        ({"slot": 0}, "tournaments_match_round_slot_positive"),
        ({"home": 0, "away": 0, "status": "ready"}, "tournaments_match_distinct_sides"),
        ({"home": 0, "away": 1, "winner": 2, "status": "completed", "decided_at": NOW},
         "tournaments_match_winner_plays"),
        ({"home": 0, "winner": 0}, "tournaments_match_status_consistent"),
        ({"home": 0, "away": 1}, "tournaments_match_status_consistent"),
        ({"home": 0, "status": "ready"}, "tournaments_match_status_consistent"),
        ({"home": 0, "away": 1, "status": "completed", "decided_at": NOW},
         "tournaments_match_status_consistent"),
        ({"home": 0, "away": 1, "winner": 0, "status": "completed"},
         "tournaments_match_status_consistent"),
        ({"home": 0, "away": 1, "winner": 0, "status": "bye", "decided_at": NOW},
         "tournaments_match_status_consistent"),
        ({"home": 0, "status": "bye", "decided_at": NOW}, "tournaments_match_status_consistent"),
        ({"status": "ready"}, "tournaments_match_status_consistent"),
    ],
)  # fmt: skip
def test_match_checks(started, overrides, constraint):
    cup, players = started
    for side in ("home", "away", "winner"):
        if side in overrides:
            overrides[f"{side}_id"] = players[overrides.pop(side)]
    without_triggers()
    refused(*match_row(cup, **overrides), constraint=constraint)


def test_a_bracket_slot_holds_one_match(started):
    cup, _ = started
    sql(*match_row(cup, round=2))
    refused(*match_row(cup, round=2), constraint="tournaments_match_slot_unique", unique=True)


@pytest.mark.postgres
def test_a_match_is_played_by_checked_in_players_of_its_tournament(started, alice):
    cup, (a, *_) = started
    other = TournamentFactory(entry_fee=0)
    stranger = register(other, alice)
    refused(
        *match_row(cup, home_id=a, away_id=stranger.pk, status="ready"),
        constraint=f"its players are checked-in registrations of tournament {cup.pk}",
    )


@pytest.mark.postgres
def test_a_no_show_does_not_play(db):
    cup = TournamentFactory(entry_fee=0, capacity=4)
    players = [register(cup, MemberFactory()) for _ in range(3)]
    open_check_in(cup)
    check_in(players[0])
    check_in(players[1])
    close_check_in(cup)
    refused(
        *match_row(cup, home_id=players[0].pk, away_id=players[2].pk, status="ready"),
        constraint="its players are checked-in registrations",
    )


@pytest.fixture
def bracket(started):
    cup, _ = started
    matches = generate_bracket(cup)
    final = matches[-1]
    first = matches[0]
    record_result(first, first.home_id, "2-1")
    return cup, Match.objects.get(pk=first.pk), Match.objects.get(pk=final.pk)


@pytest.mark.postgres
@pytest.mark.parametrize(
    "assignment",
    ["score = '0-2'", "winner_id = away_id", "status = 'ready', winner_id = NULL,"
     " decided_at = NULL"],
)  # fmt: skip
def test_a_decided_match_stays_decided(bracket, assignment):
    _, decided, _ = bracket
    refused(
        f"UPDATE tournaments_match SET {assignment} WHERE id = %s",
        [decided.pk],
        constraint=f"match {decided.pk} is decided already",
    )


@pytest.mark.postgres
def test_a_filled_side_stays_filled(bracket):
    _, _, final = bracket
    assert final.home_id is not None
    refused(
        "UPDATE tournaments_match SET home_id = NULL WHERE id = %s",
        [final.pk],
        constraint=f"match {final.pk}: its place in the bracket and its players are fixed",
    )


@pytest.mark.postgres
def test_matches_are_kept(bracket):
    _, _, final = bracket
    refused(
        "DELETE FROM tournaments_match WHERE id = %s",
        [final.pk],
        constraint=f"matches are kept: DELETE of match {final.pk} refused",
    )
