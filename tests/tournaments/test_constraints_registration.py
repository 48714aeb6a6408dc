"""The rules on registrations the database holds, proven with raw SQL that skips the ORM
and the actions. Check and unique constraints run on both backends; the triggers
(counters that agree with the rows, a gap-free waitlist, paid slots) on PostgreSQL only."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from tests.factories import MemberFactory, TournamentFactory
from tests.helpers import insert, refused, sql, table_contents
from tests.tournaments.helpers import NOW, without_triggers
from tournaments.actions import register
from tournaments.models import Registration, Tournament

pytestmark = pytest.mark.django_db

APPS = ("accounts", "events", "ledger", "tournaments")


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
def paid(db) -> Tournament:
    return TournamentFactory(entry_fee=10, capacity=4)


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
