"""Brackets: seeding the checked-in players, writing every match (`tournaments.brackets`
gives the shapes), recording results and reading the placements they make."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from ledger.models import Account
from tournaments import brackets, payloads
from tournaments.actions.common import _lock, _pk, _publish
from tournaments.actions.terms import _CONTROL_CHARACTERS
from tournaments.exceptions import BracketError, InvalidRequest, InvalidResult
from tournaments.models import (
    DECIDED,
    Format,
    Match,
    MatchStatus,
    Registration,
    RegistrationStatus,
    Status,
    Tournament,
)

SCORE_MAX = Match._meta.get_field("score").max_length


def seeding(locked: Tournament) -> list[Registration]:
    """The checked-in players in seed order: by their balance in the tournament's
    currency, highest first (their rank on its all-time leaderboard; no wallet counts as
    0), ties by registration time, then id."""
    players = list(
        Registration.objects.filter(tournament=locked, status=RegistrationStatus.CHECKED_IN)
    )
    balances = dict(
        Account.objects.filter(
            currency_id=locked.currency_id, member_id__in=[p.member_id for p in players]
        ).values_list("member_id", "balance")
    )
    return sorted(players, key=lambda p: (-balances.get(p.member_id, 0), p.created_at, p.pk))


@transaction.atomic
def generate_bracket(tournament, *, actor=None) -> list[Match]:
    """Seed the checked-in players (`seeding`) and write every match: single elimination
    (byes to the top seeds, decided at once and advanced) or round robin. Only once the
    tournament is in progress; generating again returns the bracket as it is."""
    locked = _lock(tournament)
    existing = list(Match.objects.filter(tournament=locked).order_by("round", "slot"))
    if existing:
        return existing
    if locked.status != Status.IN_PROGRESS:
        raise BracketError(
            f"tournament {locked.pk} is {locked.status}: close check-in first"
            if locked.status in (Status.REGISTRATION, Status.CHECK_IN)
            else f"tournament {locked.pk} is {locked.status}"
        )
    players = seeding(locked)
    if len(players) < 2:
        raise BracketError(f"tournament {locked.pk} has {len(players)} checked-in players")
    now = timezone.now()
    for seed, player in enumerate(players, start=1):
        player.seed = seed
    Registration.objects.bulk_update(players, ["seed"])
    Match.objects.bulk_create(_matches(locked, players, now))
    created = list(Match.objects.filter(tournament=locked).order_by("round", "slot"))
    _publish(
        "tournament.bracket_generated",
        payloads.bracket_generated(
            tournament_id=locked.pk,
            format=locked.format,
            players=len(players),
            rounds=max(m.round for m in created),
            matches=len(created),
            seeds=[
                payloads.seed(registration_id=p.pk, member_id=p.member_id, seed=p.seed)
                for p in players
            ],
        ),
        actor,
    )
    return created


def _matches(locked: Tournament, players: list[Registration], now: datetime) -> list[Match]:
    """Every match of the bracket for the seeded `players`, in (round, slot) order: a
    match with both players is ready; in single elimination a first-round match with one
    is a bye, decided at once, its player advanced."""
    by_seed = {player.seed: player.pk for player in players}
    elimination = locked.format == Format.SINGLE_ELIMINATION
    shape = (brackets.single_elimination if elimination else brackets.round_robin)(len(players))
    matches = {
        (s.round, s.slot): Match(
            tournament=locked,
            round=s.round,
            slot=s.slot,
            home_id=by_seed.get(s.home),
            away_id=by_seed.get(s.away),
        )
        for s in shape
    }
    for match in matches.values():
        if match.home_id and match.away_id:
            match.status = MatchStatus.READY
        elif elimination and match.round == 1:  # a bye: the player goes through
            match.status = MatchStatus.BYE
            match.winner_id = match.home_id or match.away_id
            match.decided_at = now
            _advance(matches, match)
    return sorted(matches.values(), key=lambda m: (m.round, m.slot))


def _advance(matches: dict[tuple[int, int], Match], decided: Match) -> Match | None:
    """Put a decided match's winner into the match it feeds; that match is ready once it
    has both players. Returns it (None after the final)."""
    round_, slot, side = brackets.next_match(decided.round, decided.slot)
    following = matches.get((round_, slot))
    if following is None:
        return None
    setattr(following, f"{side}_id", decided.winner_id)
    if following.home_id and following.away_id:
        following.status = MatchStatus.READY
    return following


def record_result(match, winner, score: str, *, actor=None) -> Match:
    """Record who won a ready match and the score (1 to 32 characters, e.g. "2-1"); in
    single elimination the winner moves on to the next match. Recording the same result
    again returns the match; a different one for a decided match raises `InvalidResult`."""
    match_pk, winner_pk = _pk(match, "match"), _pk(winner, "registration")
    if not isinstance(score, str) or not score.strip():
        raise InvalidResult("a score is required, e.g. '2-1'")
    score = score.strip()
    if len(score) > SCORE_MAX or _CONTROL_CHARACTERS.search(score):
        raise InvalidResult(f"a score has at most {SCORE_MAX} printable characters")
    with transaction.atomic():
        tournament_id = (
            Match.objects.filter(pk=match_pk).values_list("tournament_id", flat=True).first()
        )
        if tournament_id is None:
            raise InvalidRequest(f"no match {match_pk}")
        locked = _lock(tournament_id)
        current = Match.objects.select_for_update().get(pk=match_pk)
        if current.status in DECIDED:
            if current.winner_id == winner_pk and current.score == score:
                return current
            raise InvalidResult(f"match {current.pk} is decided already")
        if locked.status != Status.IN_PROGRESS:
            raise InvalidResult(f"tournament {locked.pk} is {locked.status}")
        if current.status != MatchStatus.READY:
            raise InvalidResult(f"match {current.pk} is still waiting for its players")
        if winner_pk not in (current.home_id, current.away_id):
            raise InvalidResult(f"registration {winner_pk} does not play in match {current.pk}")
        now = timezone.now()
        current.winner_id, current.score = winner_pk, score
        current.status, current.decided_at = MatchStatus.COMPLETED, now
        current.save(update_fields=["winner", "score", "status", "decided_at"])
        following = None
        if locked.format == Format.SINGLE_ELIMINATION:
            round_, slot, _ = brackets.next_match(current.round, current.slot)
            following = (
                Match.objects.select_for_update()
                .filter(tournament=locked, round=round_, slot=slot)
                .first()
            )
            if following is not None:
                _advance({(round_, slot): following}, current)
                following.save(update_fields=["home", "away", "status"])
        loser = current.away_id if winner_pk == current.home_id else current.home_id
        _publish(
            "tournament.match_recorded",
            payloads.match_recorded(
                tournament_id=locked.pk,
                match_id=current.pk,
                round=current.round,
                slot=current.slot,
                winner_registration_id=winner_pk,
                loser_registration_id=loser,
                score=score,
                next_match_id=following.pk if following else None,
            ),
            actor,
        )
        return current


def placements(locked: Tournament) -> dict[int, int]:
    """Registration id -> final placement, from the decided matches."""
    decided = list(
        Match.objects.filter(tournament=locked, status__in=DECIDED).values_list(
            "round", "home_id", "away_id", "winner_id"
        )
    )
    played = [brackets.Played(*row) for row in decided]
    if locked.format == Format.SINGLE_ELIMINATION:
        rounds = Match.objects.filter(tournament=locked).order_by("-round").first().round
        return brackets.single_elimination_placements(played, rounds)
    seeds = dict(
        Registration.objects.filter(tournament=locked, seed__isnull=False).values_list("pk", "seed")
    )
    return brackets.round_robin_placements(played, seeds)
