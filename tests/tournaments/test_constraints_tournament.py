"""The rules on a tournament row the database holds, proven with raw SQL that skips the ORM
and the actions. Check and unique constraints run on both backends; the triggers (legal
transitions, fixed terms) on PostgreSQL only."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.factories import TournamentFactory
from tests.helpers import insert, refused, sql
from tests.tournaments.helpers import NOW, without_triggers
from tournaments.models import Tournament

pytestmark = pytest.mark.django_db


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
