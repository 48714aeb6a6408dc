"""Brackets: their shapes (plain functions), seeding by the leaderboard, results that move
winners on, placements, and prizes paid exactly once."""

from __future__ import annotations

from collections import Counter
from itertools import combinations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.actions import award
from ledger.models import Account, Posting, Transfer
from tests.factories import MemberFactory, TournamentFactory
from tests.helpers import table_contents
from tests.tournaments.helpers import events_of, last_seq, reload
from tournaments import brackets
from tournaments.actions import (
    cancel,
    check_in,
    close_check_in,
    finalize,
    generate_bracket,
    open_check_in,
    record_result,
    register,
)
from tournaments.exceptions import (
    BracketError,
    IllegalTransition,
    InvalidResult,
    NotFinished,
)
from tournaments.models import Match, Registration, Tournament
from tournaments.queries import board

APPS = ("accounts", "events", "ledger", "tournaments")


# --- shapes ---------------------------------------------------------------------------


def test_seed_order_keeps_the_top_seeds_apart():
    assert brackets.seed_order(2) == [1, 2]
    assert brackets.seed_order(4) == [1, 4, 2, 3]
    assert brackets.seed_order(8) == [1, 8, 4, 5, 2, 7, 3, 6]
    for size in (2, 4, 8, 16, 32, 64):
        order = brackets.seed_order(size)
        assert sorted(order) == list(range(1, size + 1))
        # 1 and 2 can only meet in the final; 1 to 4 only in the semi-finals.
        assert order.index(1) < size // 2 <= order.index(2)
        if size >= 4:
            quarters = [set(order[q : q + size // 4]) for q in range(0, size, size // 4)]
            assert all(len(part & {1, 2, 3, 4}) == 1 for part in quarters)


@given(st.integers(min_value=2, max_value=70))
def test_single_elimination_has_one_match_per_loser_and_byes_only_for_top_seeds(players):
    slots = brackets.single_elimination(players)
    size = brackets.bracket_size(players)
    assert len(slots) == size - 1
    assert brackets.rounds_for(players) == max(s.round for s in slots)
    first = [s for s in slots if s.round == 1]
    seeds = [seed for s in first for seed in (s.home, s.away) if seed is not None]
    assert sorted(seeds) == list(range(1, players + 1))
    byes = [s for s in first if s.home is None or s.away is None]
    assert len(byes) == size - players
    assert all(s.home is not None or s.away is not None for s in first)  # never two byes
    # The byes go to the best seeds.
    assert sorted(s.home or s.away for s in byes) == list(range(1, size - players + 1))
    for s in slots:
        if s.round > 1:
            assert (s.home, s.away) == (None, None)


@given(st.integers(min_value=2, max_value=40))
def test_round_robin_plays_every_pair_once_and_nobody_twice_a_round(players):
    slots = brackets.round_robin(players)
    pairs = [frozenset((s.home, s.away)) for s in slots]
    assert Counter(pairs) == Counter(frozenset(p) for p in combinations(range(1, players + 1), 2))
    for round_ in {s.round for s in slots}:
        seen = [seed for s in slots if s.round == round_ for seed in (s.home, s.away)]
        assert len(seen) == len(set(seen))
    assert max(s.round for s in slots) == (players - 1 if players % 2 == 0 else players)


def test_the_winner_of_a_match_goes_to_its_half_of_the_next():
    assert brackets.next_match(1, 1) == (2, 1, "home")
    assert brackets.next_match(1, 2) == (2, 1, "away")
    assert brackets.next_match(1, 3) == (2, 2, "home")
    assert brackets.next_match(2, 2) == (3, 1, "away")


def test_placements_in_single_elimination():
    played = [
        brackets.Played(1, 10, 11, 10),
        brackets.Played(1, 12, 13, 13),
        brackets.Played(1, 14, None, 14),  # a bye: no loser
        brackets.Played(1, 15, 16, 16),
        brackets.Played(2, 10, 13, 13),
        brackets.Played(2, 14, 16, 14),
        brackets.Played(3, 13, 14, 14),
    ]
    assert brackets.single_elimination_placements(played, 3) == {
        14: 1,
        13: 2,
        10: 3,
        16: 3,
        11: 5,
        12: 5,
        15: 5,
    }


def test_placements_in_round_robin_by_wins_then_seed():
    seeds = {1: 1, 2: 2, 3: 3}
    played = [brackets.Played(1, 1, 2, 2), brackets.Played(2, 2, 3, 3), brackets.Played(3, 1, 3, 1)]
    assert brackets.round_robin_placements(played, seeds) == {1: 1, 2: 2, 3: 3}


# --- in the database ---------------------------------------------------------------------


def started(count: int, *, capacity: int = 8, **settings) -> tuple[Tournament, list]:
    """A tournament in progress with `count` checked-in players (registered in order)."""
    cup = TournamentFactory(capacity=capacity, **settings)
    players = [register(cup, MemberFactory()) for _ in range(count)]
    open_check_in(cup)
    for registration in players:
        check_in(registration)
    close_check_in(cup)
    return reload(cup), players


def play_out(cup: Tournament, pick=lambda m: m.home_id) -> None:
    """Record every match as it becomes ready, the winner chosen by `pick`."""
    while True:
        ready = Match.objects.filter(tournament=cup, status="ready").order_by("round", "slot")
        match = ready.first()
        if match is None:
            return
        record_result(match, pick(match), "2-1")


@pytest.mark.django_db
def test_players_are_seeded_by_their_balance_then_by_registration_time(db):
    cup = TournamentFactory(capacity=8, entry_fee=0)
    players = [register(cup, MemberFactory()) for _ in range(4)]
    award(players[2].member, 50, reason="quiz", idempotency_key="rich")
    award(players[3].member, 50, reason="quiz", idempotency_key="richer-too")
    open_check_in(cup)
    for registration in players:
        check_in(registration)
    close_check_in(cup)
    generate_bracket(cup)
    seeds = dict(Registration.objects.filter(tournament=cup).values_list("pk", "seed"))
    # 150, 150 (the earlier registration first), then 100, 100 the same way.
    assert [seeds[p.pk] for p in players] == [3, 4, 1, 2]


@pytest.mark.django_db
def test_single_elimination_with_byes_moves_the_byes_on_at_once(staff):
    cup, _ = started(5)
    after = last_seq()
    matches = generate_bracket(cup, actor=staff)
    # Eight places for five: seeds 1, 2 and 3 have byes (their opponents 8, 7, 6).
    assert [(m.round, m.slot, m.status) for m in matches] == [
        (1, 1, "bye"),
        (1, 2, "ready"),
        (1, 3, "bye"),
        (1, 4, "bye"),
        (2, 1, "pending"),
        (2, 2, "ready"),
        (3, 1, "pending"),
    ]
    seed = dict(Registration.objects.filter(tournament=cup).values_list("pk", "seed"))
    seed[None] = None
    assert [(seed[m.home_id], seed[m.away_id], seed[m.winner_id]) for m in matches] == [
        (1, None, 1),
        (4, 5, None),
        (2, None, 2),
        (3, None, 3),
        (1, None, None),
        (2, 3, None),
        (None, None, None),
    ]
    [event] = events_of("tournament.bracket_generated", after)
    assert (event.data["players"], event.data["rounds"], event.data["matches"]) == (5, 3, 7)
    assert event.data["tournament_id"] == cup.pk


@pytest.mark.django_db
def test_results_move_winners_on_and_finalize_pays_the_prize_table_once(staff):
    cup, players = started(4, prize_table={"1": 300, "2": 100, "3": 25})
    matches = generate_bracket(cup)
    semi_1, semi_2, final = matches
    after = last_seq()
    done = record_result(semi_1, semi_1.away_id, "1-2", actor=staff)
    assert (done.status, done.winner_id, done.score) == ("completed", semi_1.away_id, "1-2")
    final = reload(final)
    assert (final.home_id, final.away_id, final.status) == (semi_1.away_id, None, "pending")
    [event] = events_of("tournament.match_recorded", after)
    assert event.data == {
        "tournament_id": cup.pk,
        "match_id": semi_1.pk,
        "round": 1,
        "slot": 1,
        "winner_registration_id": semi_1.away_id,
        "loser_registration_id": semi_1.home_id,
        "score": "1-2",
        "next_match_id": final.pk,
    }
    record_result(semi_2, semi_2.home_id, "2-0")
    assert reload(final).status == "ready"
    refused = table_contents(*APPS)
    with pytest.raises(NotFinished):
        finalize(cup)
    assert table_contents(*APPS) == refused
    record_result(final, final.home_id, "3-1")

    before = {
        p.member_id: Account.objects.get(member_id=p.member_id, currency__code="points").balance
        for p in players
    }
    after = last_seq()
    paid = finalize(cup, actor=staff)
    assert paid.idempotency_key == f"tournament:{cup.pk}:prizes"
    assert (paid.kind, paid.replayed) == ("prize", False)
    placement = dict(Registration.objects.filter(tournament=cup).values_list("pk", "placement"))
    assert placement[semi_1.away_id] == 1
    assert placement[semi_2.home_id] == 2
    assert placement[semi_1.home_id] == placement[semi_2.away_id] == 3
    gained = {
        member: Account.objects.get(member_id=member, currency__code="points").balance - was
        for member, was in before.items()
    }
    by_registration = {p.pk: p.member_id for p in players}
    assert gained == {
        by_registration[semi_1.away_id]: 300,
        by_registration[semi_2.home_id]: 100,
        by_registration[semi_1.home_id]: 25,
        by_registration[semi_2.away_id]: 25,
    }
    assert (reload(cup).status, cup.prize_transfer_id) == ("completed", paid.pk)
    [event] = events_of("tournament.finalized", after)
    assert event.data["transfer_id"] == paid.pk
    assert [p["placement"] for p in event.data["placements"]] == [1, 2, 3, 3]

    nothing = table_contents(*APPS)
    again = finalize(cup)
    assert (again.pk, again.replayed) == (paid.pk, True)
    assert table_contents(*APPS) == nothing
    assert Transfer.objects.filter(kind="prize").count() == 1
    assert Posting.objects.filter(transfer=paid).count() == 5  # four players and issuance


@pytest.mark.django_db
def test_round_robin_places_by_wins(db):
    cup, _ = started(3, format="round_robin", prize_table={"1": 30})
    matches = generate_bracket(cup)
    assert len(matches) == 3
    assert {m.status for m in matches} == {"ready"}
    seeds = dict(Registration.objects.filter(tournament=cup).values_list("pk", "seed"))
    play_out(cup, pick=lambda m: min((m.home_id, m.away_id), key=seeds.get))
    paid = finalize(cup)
    champion = min(seeds, key=seeds.get)
    assert Registration.objects.get(pk=champion).placement == 1
    [line] = Posting.objects.filter(transfer=paid, amount=30)
    assert line.account.member_id == Registration.objects.get(pk=champion).member_id


@pytest.mark.django_db
def test_a_bracket_of_many_plays_out_and_everyone_gets_a_placement(db):
    cup, _ = started(11, capacity=16, entry_fee=0, prize_table={"1": 5})
    generate_bracket(cup)
    play_out(cup, pick=lambda m: m.away_id)
    finalize(cup)
    placements = Counter(
        Registration.objects.filter(tournament=cup).values_list("placement", flat=True)
    )
    assert placements == {1: 1, 2: 1, 3: 2, 5: 4, 9: 3}


@pytest.mark.django_db
def test_generate_bracket_twice_returns_the_same_bracket(db):
    cup, _ = started(4)
    first = generate_bracket(cup)
    nothing = table_contents(*APPS)
    assert [m.pk for m in generate_bracket(cup)] == [m.pk for m in first]
    assert table_contents(*APPS) == nothing


@pytest.mark.django_db
def test_no_bracket_before_the_start_or_for_fewer_than_two(db):
    cup = TournamentFactory()
    registration = register(cup, MemberFactory())
    with pytest.raises(BracketError, match="close check-in first"):
        generate_bracket(cup)
    open_check_in(cup)
    check_in(registration)
    close_check_in(cup)
    with pytest.raises(BracketError, match="1 checked-in players"):
        generate_bracket(cup)
    assert not Match.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("score", ["", "   ", "x" * 33, "2\n1", 21])
def test_a_score_is_short_printable_text(db, score):
    cup, _ = started(2)
    [match] = generate_bracket(cup)
    before = table_contents(*APPS)
    with pytest.raises(InvalidResult):
        record_result(match, match.home_id, score)
    assert table_contents(*APPS) == before


@pytest.mark.django_db
def test_record_result_refuses_what_cannot_be(db):
    cup, _ = started(3)
    matches = generate_bracket(cup)
    bye, ready, final = matches  # seeds 1 (a bye), 2 v 3, then the final
    before = table_contents(*APPS)
    with pytest.raises(InvalidResult, match="does not play"):
        record_result(ready, bye.winner_id, "2-0")
    with pytest.raises(InvalidResult, match="decided already"):
        record_result(bye, bye.winner_id, "2-0")
    with pytest.raises(InvalidResult, match="waiting for its players"):
        record_result(final, final.home_id, "2-0")
    assert table_contents(*APPS) == before
    record_result(ready, ready.home_id, "2-0")
    nothing = table_contents(*APPS)
    assert record_result(ready, ready.home_id, "2-0").pk == ready.pk  # the same again
    assert table_contents(*APPS) == nothing
    with pytest.raises(InvalidResult, match="decided already"):
        record_result(ready, ready.away_id, "0-2")


@pytest.mark.django_db
def test_finalize_only_a_tournament_in_progress(db):
    cup = TournamentFactory()
    with pytest.raises(IllegalTransition):
        finalize(cup)
    cup, _ = started(2)
    with pytest.raises(NotFinished, match="no bracket"):
        finalize(cup)


@pytest.mark.django_db
def test_a_prize_table_that_pays_nobody_completes_without_a_transfer(db):
    cup, _ = started(2, prize_table={"5": 10})
    generate_bracket(cup)
    play_out(cup)
    assert finalize(cup) is None
    assert reload(cup).status == "completed"
    assert finalize(cup) is None
    with pytest.raises(IllegalTransition):
        cancel(cup)


@pytest.mark.django_db
def test_the_board_shows_counts_waitlist_and_bracket(db):
    cup = TournamentFactory(capacity=4, entry_fee=0)
    players = [register(cup, MemberFactory()) for _ in range(6)]
    open_check_in(cup)
    check_in(players[0])
    shown = board(cup)
    assert (shown.registered, shown.checked_in, shown.waitlisted, shown.capacity) == (3, 1, 2, 4)
    assert shown.seats_left == 0
    assert [e.registration_id for e in shown.waitlist] == [players[4].pk, players[5].pk]
    assert [e.waitlist_position for e in shown.waitlist] == [1, 2]
    assert {e.registration_id for e in shown.players} == {p.pk for p in players[:4]}
    assert shown.rounds == []
    check_in(players[1])
    close_check_in(cup)
    generate_bracket(cup)
    shown = board(cup.pk)
    assert shown.departed == {"no_show": 2}
    assert [len(games) for games in shown.rounds] == [2, 1]
    assert [e.seed for e in shown.players] == [1, 2, 3, 4]
    first = shown.rounds[0][0]
    assert (first.home.seed, first.away.seed, first.status) == (1, 4, "ready")
    play_out(cup)
    finalize(cup)
    assert board(cup).champion.placement == 1
