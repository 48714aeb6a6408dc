"""The tournament integrity checks: quiet on tournaments the actions ran, and each one
finds the corruption it exists for, planted as only something going around Concord could
(raw SQL with the database's own rules lifted for the rest of the test's transaction)."""

from __future__ import annotations

import pytest

from integrity.registry import all_checks
from ledger.actions import award, spend
from ledger.models import Transfer
from tests.factories import MemberFactory, TournamentFactory
from tests.helpers import integrity_json as report
from tournaments.actions import (
    cancel,
    check_in,
    close_check_in,
    finalize,
    generate_bracket,
    open_check_in,
    record_result,
    register,
    withdraw,
)
from tournaments.models import Match, Registration

pytestmark = pytest.mark.django_db

CHECKS = [
    "tournaments.bracket_advances",
    "tournaments.one_active_registration",
    "tournaments.prizes_paid_once",
    "tournaments.seats_paid",
    "tournaments.seats_within_capacity",
    "tournaments.settings_history_current",
    "tournaments.waitlist_gap_free",
    "tournaments.withdrawals_refunded",
]


def assert_found(name: str, *ids) -> None:
    code, body = report("--check", name)
    assert code == 1, body
    [result] = body["checks"]
    assert (result["status"], result["violations"], result["sample"]) == (
        "failed",
        len(ids),
        list(ids),
    ), result


@pytest.fixture
def season(db):
    """Tournaments in every state, built only through the actions."""
    league = TournamentFactory(name="League", capacity=4, entry_fee=10,
                               prize_table={"1": 300, "2": 100, "3": 40})  # fmt: skip
    players = [register(league, MemberFactory()) for _ in range(7)]
    poor = players[5]
    spend(poor.member, 100, sink="shop", reason="spent", idempotency_key="poor")
    withdraw(players[1])  # refunded; players[4] promoted, poor skipped later
    withdraw(players[2])  # players[5] (poor) skipped, players[6] promoted
    open_check_in(league)
    for registration in Registration.objects.filter(tournament=league, status="registered"):
        check_in(registration)
    close_check_in(league)
    generate_bracket(league)
    while (match := Match.objects.filter(tournament=league, status="ready").first()) is not None:
        record_result(match, match.home_id, "2-0")
    finalize(league)

    open_cup = TournamentFactory(name="Open", capacity=2, entry_fee=5)
    waiting = [register(open_cup, MemberFactory()) for _ in range(5)]
    withdraw(waiting[3])  # leaves the middle of the waitlist

    called_off = TournamentFactory(name="Called off", capacity=2, entry_fee=5)
    for _ in range(3):
        register(called_off, MemberFactory())
    cancel(called_off)
    award(MemberFactory(), 1, kind="prize", reason="unrelated prize", idempotency_key="other")
    return {"league": league, "open": open_cup, "called_off": called_off}


def test_the_checks_are_registered():
    names = [c.name for c in all_checks() if c.name.startswith("tournaments.")]
    assert names == CHECKS


def test_a_season_built_by_the_actions_is_clean(season):
    code, body = report(*[arg for name in CHECKS for arg in ("--check", name)])
    assert code == 0, body
    assert {c["status"] for c in body["checks"]} == {"ok"}
    assert season["league"].__class__.objects.get(pk=season["league"].pk).status == "completed"


def test_a_counter_out_of_step_is_found(season, bypass):
    cup = season["open"]
    bypass.sql("UPDATE tournaments_tournament SET active_count = 1 WHERE id = %s", [cup.pk])
    assert_found("tournaments.seats_within_capacity", cup.pk)


def test_more_players_than_slots_is_found(season, bypass):
    cup = season["open"]
    bypass.lift("tournaments_registration", "tournaments_registration_position_iff_waitlisted")
    bypass.sql(
        "UPDATE tournaments_registration SET status = 'registered', waitlist_position = NULL"
        " WHERE tournament_id = %s AND status = 'waitlisted'",
        [cup.pk],
    )
    assert_found("tournaments.seats_within_capacity", cup.pk)


def test_a_gap_in_the_waitlist_is_found(season, bypass):
    cup = season["open"]
    bypass.sql(
        "UPDATE tournaments_registration SET waitlist_position = 9"
        " WHERE tournament_id = %s AND waitlist_position = 2",
        [cup.pk],
    )
    assert_found("tournaments.waitlist_gap_free", cup.pk)


def test_a_position_on_a_player_who_is_not_waiting_is_found(season, bypass):
    league = season["league"]
    bypass.lift("tournaments_registration", "tournaments_registration_position_iff_waitlisted")
    bypass.sql(
        "UPDATE tournaments_registration SET waitlist_position = 1"
        " WHERE tournament_id = %s AND status = 'withdrawn'",
        [league.pk],
    )
    assert_found("tournaments.waitlist_gap_free", league.pk)


def test_two_current_registrations_of_one_member_are_found(season, bypass):
    cup = season["open"]
    first = Registration.objects.filter(tournament=cup, status="registered").order_by("pk")[0]
    bypass.sql("DROP INDEX tournaments_registration_one_active_per_member")
    bypass.sql(
        "INSERT INTO tournaments_registration (tournament_id, member_id, status,"
        " waitlist_position, created_at, status_changed_at)"
        " SELECT tournament_id, member_id, 'waitlisted', 99, created_at, status_changed_at"
        " FROM tournaments_registration WHERE id = %s",
        [first.pk],
    )
    assert_found("tournaments.one_active_registration", first.pk)


def test_a_slot_without_its_fee_is_found(season, bypass):
    seated = Registration.objects.filter(tournament=season["open"], status="registered").first()
    bypass.sql(
        "UPDATE tournaments_registration SET fee_transfer_id = NULL WHERE id = %s", [seated.pk]
    )
    assert_found("tournaments.seats_paid", seated.pk)


def test_a_fee_that_is_not_the_fee_is_found(season, bypass):
    seated = Registration.objects.filter(tournament=season["open"], status="registered").first()
    bonus = Transfer.objects.get(idempotency_key=f"signup:{seated.member_id}:points")
    bypass.sql(
        "UPDATE tournaments_registration SET fee_transfer_id = %s WHERE id = %s",
        [bonus.pk, seated.pk],
    )
    assert_found("tournaments.seats_paid", seated.pk)


def test_a_slot_whose_fee_was_refunded_is_found(season, bypass):
    league = season["league"]
    gone = Registration.objects.filter(tournament=league, status="withdrawn").first()
    bypass.sql(
        "UPDATE tournaments_registration SET status = 'checked_in', refund_transfer_id = NULL,"
        " checked_in_at = status_changed_at WHERE id = %s",
        [gone.pk],
    )
    assert_found("tournaments.seats_paid", gone.pk)


def test_a_withdrawal_without_its_refund_is_found(season, bypass):
    gone = Registration.objects.filter(tournament=season["league"], status="withdrawn").first()
    bypass.sql(
        "UPDATE tournaments_registration SET refund_transfer_id = NULL WHERE id = %s", [gone.pk]
    )
    assert_found("tournaments.withdrawals_refunded", gone.pk)


def test_a_refund_that_is_not_the_reversal_of_the_fee_is_found(season, bypass):
    gone = Registration.objects.filter(tournament=season["called_off"]).order_by("pk").first()
    bonus = Transfer.objects.get(idempotency_key=f"signup:{gone.member_id}:points")
    bypass.sql(
        "UPDATE tournaments_registration SET refund_transfer_id = %s WHERE id = %s",
        [bonus.pk, gone.pk],
    )
    assert_found("tournaments.withdrawals_refunded", gone.pk)


def test_prizes_not_matching_the_placements_are_found(season, bypass):
    league = season["league"]
    bypass.sql(
        "UPDATE tournaments_registration SET placement = 2"
        " WHERE tournament_id = %s AND placement = 1",
        [league.pk],
    )
    assert_found("tournaments.prizes_paid_once", league.pk)


def test_prizes_paid_twice_are_found(season):
    league = season["league"]
    award(
        MemberFactory(),
        300,
        kind="prize",
        reason="Prizes again",
        idempotency_key="prizes-again",
        context={"tournament_id": league.pk},
    )
    assert_found("tournaments.prizes_paid_once", league.pk)


def test_a_winner_who_did_not_advance_is_found(season, bypass):
    league = season["league"]
    final = Match.objects.filter(tournament=league).order_by("-round").first()
    semi = Match.objects.get(tournament=league, round=final.round - 1, slot=1)
    loser = semi.away_id if semi.winner_id == semi.home_id else semi.home_id
    bypass.lift("tournaments_match", "tournaments_match_winner_plays")
    bypass.sql("UPDATE tournaments_match SET home_id = %s WHERE id = %s", [loser, final.pk])
    # The semi-final's winner is not in the final, and the final's home side did not win
    # its semi-final: both ends of the link are found.
    assert_found("tournaments.bracket_advances", semi.pk, final.pk)
