"""The rules on bracket matches the database holds, proven with raw SQL that skips the ORM
and the actions. Check and unique constraints run on both backends; the triggers
(decided matches) on PostgreSQL only."""

from __future__ import annotations

import pytest

from tests.factories import MemberFactory, TournamentFactory
from tests.helpers import insert, refused, sql
from tests.tournaments.helpers import NOW, without_triggers
from tournaments.actions import (
    check_in,
    close_check_in,
    generate_bracket,
    open_check_in,
    record_result,
    register,
)
from tournaments.models import Match

pytestmark = pytest.mark.django_db

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
