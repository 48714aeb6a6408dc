"""Read models over tournaments: the board (counts, players, waitlist, bracket)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Q

from tournaments.exceptions import InvalidRequest
from tournaments.models import (
    SEATED,
    Match,
    Registration,
    RegistrationStatus,
    Tournament,
)

WAITLIST_SHOWN = 100


@dataclass(frozen=True)
class Entry:
    registration_id: int
    member_id: int
    display_name: str
    status: str
    seed: int | None
    waitlist_position: int | None
    placement: int | None
    registered_at: datetime
    checked_in_at: datetime | None


@dataclass(frozen=True)
class Game:
    match_id: int
    round: int
    slot: int
    status: str
    home: Entry | None
    away: Entry | None
    winner_id: int | None  # registration id
    score: str


@dataclass(frozen=True)
class Board:
    tournament_id: int
    name: str
    game: str
    status: str
    format: str
    currency: str
    entry_fee: int
    prize_table: dict[str, int]
    capacity: int
    registered: int  # holding a slot, not checked in
    checked_in: int
    waitlisted: int
    players: list[Entry]  # holding a slot: by seed, then registration time
    waitlist: list[Entry]  # in order, the first WAITLIST_SHOWN
    rounds: list[list[Game]] = field(default_factory=list)  # round 1 first, slot order
    departed: dict[str, int] = field(default_factory=dict)  # withdrawn/no-show/disqualified

    @property
    def seats_left(self) -> int:
        return max(0, self.capacity - self.registered - self.checked_in)

    @property
    def champion(self) -> Entry | None:
        return next((p for p in self.players if p.placement == 1), None)


def _entry(registration: Registration) -> Entry:
    return Entry(
        registration_id=registration.pk,
        member_id=registration.member_id,
        display_name=registration.member.display_name,
        status=registration.status,
        seed=registration.seed,
        waitlist_position=registration.waitlist_position,
        placement=registration.placement,
        registered_at=registration.created_at,
        checked_in_at=registration.checked_in_at,
    )


def board(tournament, *, waitlist: int = WAITLIST_SHOWN) -> Board:
    """Everything a tournament board shows, in four queries: the tournament, its counts
    by status, the players holding a slot and the head of the waitlist, the bracket."""
    pk = tournament if type(tournament) is int else getattr(tournament, "pk", None)
    found = Tournament.objects.select_related("currency").filter(pk=pk).first()
    if found is None:
        raise InvalidRequest(f"no tournament {pk!r}")
    counts = {
        row["status"]: row["n"]
        for row in Registration.objects.filter(tournament=found)
        .values("status")
        .annotate(n=Count("id"))
        .order_by()
    }
    base = Registration.objects.filter(tournament=found).select_related("member")
    players = [
        _entry(r)
        for r in base.filter(
            Q(status__in=SEATED)
            # After the start, the bracket's players stay on the board whatever happens.
            | Q(seed__isnull=False)
        ).order_by("seed", "created_at", "pk")
    ]
    head = [
        _entry(r)
        for r in base.filter(status=RegistrationStatus.WAITLISTED).order_by("waitlist_position")[
            :waitlist
        ]
    ]
    by_id = {entry.registration_id: entry for entry in players}
    rounds: dict[int, list[Game]] = {}
    for match in Match.objects.filter(tournament=found).order_by("round", "slot"):
        rounds.setdefault(match.round, []).append(
            Game(
                match_id=match.pk,
                round=match.round,
                slot=match.slot,
                status=match.status,
                home=by_id.get(match.home_id),
                away=by_id.get(match.away_id),
                winner_id=match.winner_id,
                score=match.score,
            )
        )
    return Board(
        tournament_id=found.pk,
        name=found.name,
        game=found.game,
        status=found.status,
        format=found.format,
        currency=found.currency.code,
        entry_fee=found.entry_fee,
        prize_table=dict(found.prize_table),
        capacity=found.capacity,
        registered=counts.get(RegistrationStatus.REGISTERED, 0),
        checked_in=counts.get(RegistrationStatus.CHECKED_IN, 0),
        waitlisted=counts.get(RegistrationStatus.WAITLISTED, 0),
        players=players,
        waitlist=head,
        rounds=[rounds[n] for n in sorted(rounds)],
        departed={
            status: counts[status]
            for status in (
                RegistrationStatus.WITHDRAWN,
                RegistrationStatus.NO_SHOW,
                RegistrationStatus.DISQUALIFIED,
            )
            if counts.get(status)
        },
    )
