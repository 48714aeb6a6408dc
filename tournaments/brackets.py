"""Bracket shapes and placements, as plain functions of seeds (no database).

Seeds are 1..n (1 is the strongest). A `Slot` names the seeds meeting in a match, `None`
for a side nobody fills: a bye in round 1 of single elimination, a side still to be won in
later rounds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Slot:
    round: int
    slot: int
    home: int | None
    away: int | None


def bracket_size(players: int) -> int:
    """The smallest power of two holding `players` (at least 2)."""
    size = 2
    while size < players:
        size *= 2
    return size


def rounds_for(players: int) -> int:
    return bracket_size(players).bit_length() - 1


def seed_order(size: int) -> list[int]:
    """Seeds in bracket order for a power-of-two `size`: consecutive pairs meet in round 1,
    and the top seeds meet as late as possible (1 and 2 only in the final).

    [1, 2] -> [1, 4, 2, 3] -> [1, 8, 4, 5, 2, 7, 3, 6] -> ..."""
    order = [1]
    while len(order) < size:
        total = 2 * len(order) + 1
        order = [seed for top in order for seed in (top, total - top)]
    return order


def single_elimination(players: int) -> list[Slot]:
    """Every match of a single-elimination bracket for `players` seeds. Seeds past
    `players` are byes: with standard seeding they fall to the top seeds, and no round-1
    match is two byes (more than half the bracket is players)."""
    if players < 2:
        raise ValueError("a bracket needs at least two players")
    size = bracket_size(players)
    order = [seed if seed <= players else None for seed in seed_order(size)]
    slots = [Slot(1, n + 1, order[2 * n], order[2 * n + 1]) for n in range(size // 2)]
    matches, round_ = size // 4, 2
    while matches >= 1:
        slots += [Slot(round_, n + 1, None, None) for n in range(matches)]
        matches, round_ = matches // 2, round_ + 1
    return slots


def next_match(round_: int, slot: int) -> tuple[int, int, str]:
    """Where the winner of (round, slot) plays next: (round, slot, "home" | "away")."""
    return round_ + 1, (slot + 1) // 2, "home" if slot % 2 else "away"


def round_robin(players: int) -> list[Slot]:
    """Every pair once, by the circle method: each round everyone plays at most once (with
    an odd count one seed sits out each round), n - 1 rounds for even n, n for odd."""
    if players < 2:
        raise ValueError("a round robin needs at least two players")
    seats: list[int | None] = list(range(1, players + 1))
    if players % 2:
        seats.append(None)
    count = len(seats)
    slots: list[Slot] = []
    for round_ in range(1, count):
        pairs = [(seats[n], seats[count - 1 - n]) for n in range(count // 2)]
        played = [(a, b) for a, b in pairs if a is not None and b is not None]
        # Alternate sides so no seed is always home.
        slots += [
            Slot(round_, n, *((a, b) if (round_ + n) % 2 else (b, a)))
            for n, (a, b) in enumerate(played, start=1)
        ]
        seats = [seats[0], seats[-1], *seats[1:-1]]
    return slots


@dataclass(frozen=True)
class Played:
    """A decided match as placements need it (registration ids)."""

    round: int
    home: int | None
    away: int | None
    winner: int


def single_elimination_placements(matches: Iterable[Played], rounds: int) -> dict[int, int]:
    """Registration id -> placement: the final's winner 1, its loser 2, semi-final losers
    3 (both: there is no third-place match), quarter-final losers 5, ... A bye has no loser."""
    placements: dict[int, int] = {}
    for match in matches:
        loser = match.away if match.winner == match.home else match.home
        if loser is not None:
            placements[loser] = 2 ** (rounds - match.round) + 1
        if match.round == rounds:
            placements[match.winner] = 1
    return placements


def round_robin_placements(matches: Iterable[Played], seeds: dict[int, int]) -> dict[int, int]:
    """Registration id -> placement by wins, ties broken by seed (the better seed first)."""
    wins = dict.fromkeys(seeds, 0)
    for match in matches:
        wins[match.winner] += 1
    ranked = sorted(seeds, key=lambda registration: (-wins[registration], seeds[registration]))
    return {registration: place for place, registration in enumerate(ranked, start=1)}
