"""Demo tournaments, one in each state a night goes through, made through the actions
(`seed_demo` calls this): "Open Cup" taking registrations (with a waitlist), "Check-in
Cup" checking players in, "Live Cup" with its bracket half played, and "Finished Cup"
completed with its prizes paid. Each is made once (by name); a rerun finds them."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from ledger.exceptions import InsufficientFunds
from tournaments import actions
from tournaments.exceptions import TournamentsError
from tournaments.models import Match, Status, Tournament

CUPS = ("Open Cup", "Check-in Cup", "Live Cup", "Finished Cup")


def load_demo_tournaments(people: list) -> list[Tournament]:
    """The four demo tournaments (made if missing), each with up to ten of `people` (8
    seated, the rest waitlisted); none with fewer than 8 people."""
    if len(people) < 8:
        return []
    made = []
    for n, name in enumerate(CUPS):
        players = [people[(n * 10 + i) % len(people)] for i in range(min(10, len(people)))]
        made.append(
            Tournament.objects.filter(name=name).first() or _night(name, stage=n, players=players)
        )
    return made


@transaction.atomic
def _night(name: str, *, stage: int, players: list) -> Tournament:
    """One cup to `stage`, all or nothing (a refusal partway leaves no half-built cup
    for a rerun to find by its name)."""
    now = timezone.now()
    cup = actions.create_tournament(
        name=name,
        game="chess",
        currency="points",
        entry_fee=0,
        capacity=8,
        waitlist_limit=4,
        prize_table={"1": 300, "2": 150, "3": 50},
        registration_opens_at=now - timedelta(hours=2),
        registration_closes_at=now + timedelta(days=1),
        check_in_opens_at=now + timedelta(days=1),
        check_in_closes_at=now + timedelta(days=1, hours=1),
    )
    actions.open_registration(cup)
    registrations = []
    for member in players:
        with contextlib.suppress(TournamentsError, InsufficientFunds):
            registrations.append(actions.register(cup, member))
    if stage >= 1:
        actions.open_check_in(cup)
        for registration in registrations[: 7 if stage == 1 else 8]:
            with contextlib.suppress(TournamentsError):
                actions.check_in(registration)
    if stage >= 2:
        actions.close_check_in(cup)
        actions.generate_bracket(cup)
        _play(cup, rounds=1 if stage == 2 else None)
    if stage >= 3:
        actions.finalize(cup)
    cup.refresh_from_db()
    return cup


def _play(cup: Tournament, *, rounds: int | None) -> None:
    """Record the home side as winner of every playable match (of the first `rounds`)."""
    while True:
        cup.refresh_from_db()
        if cup.status != Status.IN_PROGRESS:
            return
        ready = Match.objects.filter(
            tournament=cup, winner__isnull=True, home__isnull=False, away__isnull=False
        )
        if rounds is not None:
            ready = ready.filter(round__lte=rounds)
        match = ready.order_by("round", "slot").first()
        if match is None:
            return
        actions.record_result(match, match.home, "2-1")
