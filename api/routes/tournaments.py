"""Tournaments: list, board, register, withdraw, check in — the tournaments actions
every other door calls, with the key's actor. Registering charges the entry fee and
withdrawing refunds it, so both require an Idempotency-Key."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import Field

from accounts.models import Member
from api import idempotency
from api.auth import scope
from api.problems import Problem
from api.routes.common import acts, get_or_404, parse_cursor
from api.schemas import Id, Page, PathId, text
from tournaments import actions, queries
from tournaments.models import ACTIVE, Registration, Tournament

router = Router(tags=["tournaments"])
PAGE_MAX = 100


class TournamentOut(Schema):
    id: int
    name: str
    game: str
    status: str
    format: str
    currency: str
    entry_fee: int
    capacity: int
    seats_taken: int
    waitlisted: int
    registration_opens_at: datetime
    registration_closes_at: datetime
    check_in_opens_at: datetime
    check_in_closes_at: datetime


class TournamentPage(Page):
    items: list[TournamentOut]


class EntryOut(Schema):
    registration_id: int
    member_id: int
    display_name: str
    status: str
    seed: int | None
    waitlist_position: int | None
    placement: int | None
    registered_at: datetime
    checked_in_at: datetime | None


class GameOut(Schema):
    match_id: int
    round: int
    slot: int
    status: str
    home: EntryOut | None
    away: EntryOut | None
    winner_id: int | None
    score: str


class BoardOut(Schema):
    tournament_id: int
    name: str
    game: str
    status: str
    format: str
    currency: str
    entry_fee: int
    capacity: int
    seats_left: int
    registered: int
    checked_in: int
    waitlisted: int
    players: list[EntryOut]
    waitlist: list[EntryOut]
    rounds: list[list[GameOut]]


class RegistrationOut(Schema):
    id: int
    tournament_id: int
    member_id: int
    status: str
    waitlist_position: int | None
    fee_transfer_id: int | None
    refund_transfer_id: int | None
    created_at: datetime
    checked_in_at: datetime | None


class MemberIn(Schema):
    member_id: Id


class ListQuery(Schema):
    status: text(16) | None = None
    limit: int = Field(20, ge=1, le=PAGE_MAX)
    cursor: text(18) | None = None


def tournament_data(t: Tournament) -> dict:
    return TournamentOut(
        id=t.pk,
        name=t.name,
        game=t.game,
        status=t.status,
        format=t.format,
        currency=t.currency.code,
        entry_fee=t.entry_fee,
        capacity=t.capacity,
        seats_taken=t.active_count,
        waitlisted=t.waitlist_count,
        registration_opens_at=t.registration_opens_at,
        registration_closes_at=t.registration_closes_at,
        check_in_opens_at=t.check_in_opens_at,
        check_in_closes_at=t.check_in_closes_at,
    ).model_dump(mode="json")


def registration_data(r: Registration) -> dict:
    r = Registration.objects.get(pk=r.pk)
    return RegistrationOut(
        id=r.pk,
        tournament_id=r.tournament_id,
        member_id=r.member_id,
        status=r.status,
        waitlist_position=r.waitlist_position,
        fee_transfer_id=r.fee_transfer_id,
        refund_transfer_id=r.refund_transfer_id,
        created_at=r.created_at,
        checked_in_at=r.checked_in_at,
    ).model_dump(mode="json")


@router.get(
    "", auth=scope("tournaments:read"), response=TournamentPage, summary="Tournaments, newest first"
)
def list_tournaments(request: HttpRequest, q: Query[ListQuery]):
    rows = Tournament.objects.select_related("currency").order_by("-pk")
    if q.status:
        rows = rows.filter(status=q.status)
    before = parse_cursor(q.cursor)
    if before is not None:
        rows = rows.filter(pk__lt=before)
    found = list(rows[: q.limit + 1])
    page = found[: q.limit]
    return {
        "items": [tournament_data(t) for t in page],
        "next_cursor": str(page[-1].pk) if len(found) > q.limit else None,
    }


@router.get(
    "/{tournament_id}",
    auth=scope("tournaments:read"),
    response=BoardOut,
    summary="A tournament's board: counts, players, waitlist, bracket",
)
def board(request: HttpRequest, tournament_id: PathId):
    found = get_or_404(Tournament.objects, tournament_id, "tournament")
    b = queries.board(found)
    return {
        **{name: getattr(b, name) for name in BoardOut.model_fields if name != "rounds"},
        "rounds": b.rounds,
    }


def _registration_of(tournament: Tournament, member_id: int) -> Registration:
    found = (
        Registration.objects.filter(tournament=tournament, member_id=member_id)
        .order_by("-created_at", "-pk")
        .first()
    )
    if found is None:
        raise Problem(404, "registration_not_found", "the member never registered for this")
    return found


def _action(request, tournament_id: int, payload: MemberIn, do, *, moves_value: bool):
    acts(payload.member_id)

    def work():
        tournament = get_or_404(Tournament.objects, tournament_id, "tournament")
        member = get_or_404(Member.objects, payload.member_id, "member")
        return 200, registration_data(do(tournament, member))

    return idempotency.write(
        request, payload.model_dump(mode="json"), work, moves_value=moves_value
    )


@router.post(
    "/{tournament_id}/register",
    auth=scope("tournaments:write"),
    response={200: RegistrationOut},
    summary="Register a member (a slot, paying the fee, or the waitlist)",
    openapi_extra=idempotency.REQUIRED,
)
def register(request: HttpRequest, tournament_id: PathId, payload: MemberIn):
    actor = request.auth.actor
    return _action(
        request,
        tournament_id,
        payload,
        lambda t, m: actions.register(t, m, actor=actor),
        moves_value=True,
    )


@router.post(
    "/{tournament_id}/withdraw",
    auth=scope("tournaments:write"),
    response={200: RegistrationOut},
    summary="Withdraw a member (a paid slot is refunded)",
    openapi_extra=idempotency.REQUIRED,
)
def withdraw(request: HttpRequest, tournament_id: PathId, payload: MemberIn):
    actor = request.auth.actor

    def do(tournament, member):
        current = (
            Registration.objects.filter(tournament=tournament, member=member, status__in=ACTIVE)
            .order_by("-pk")
            .first()
        ) or _registration_of(tournament, member.pk)
        return actions.withdraw(current, actor=actor)

    return _action(request, tournament_id, payload, do, moves_value=True)


@router.post(
    "/{tournament_id}/check-in",
    auth=scope("tournaments:write"),
    response={200: RegistrationOut},
    summary="Check a registered member in",
    openapi_extra=idempotency.OPTIONAL,
)
def check_in(request: HttpRequest, tournament_id: PathId, payload: MemberIn):
    actor = request.auth.actor
    return _action(
        request,
        tournament_id,
        payload,
        lambda t, m: actions.check_in(_registration_of(t, m.pk), actor=actor),
        moves_value=False,
    )
