"""Leaderboards, activity (daily streaks) and achievements: ledger reads and the ledger
actions `record_activity` and `grant_achievement`, with the key's actor."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router, Schema
from pydantic import Field, model_validator

from accounts.models import Member
from api import idempotency
from api.auth import scope
from api.problems import Problem
from api.routes.common import get_or_404
from api.schemas import Currency, PathId, text
from dashboard import cache as cached
from dashboard import ranks, rolling
from ledger import actions, queries
from ledger.models import Achievement, MemberAchievement

router = Router(tags=["standing"])
LEADERBOARD_MAX = 100


class RankOut(Schema):
    rank: int
    member_id: int
    display_name: str
    amount: int


class LeaderboardQuery(Schema):
    limit: int = Field(20, ge=1, le=LEADERBOARD_MAX)
    around: PathId | None = None
    since: datetime | None = Field(
        None,
        description="Rank what each member gained since then (the net of their postings,"
        " positive only). The start of the current day, week or month, or of the `24h` or"
        " `7d` window, is answered as `period`; any other time is summed when asked"
        " (seconds at a million members).",
    )
    period: Literal["day", "week", "month", "24h", "7d"] | None = Field(
        None,
        description="Rank what each member gained since the current day, week (from Monday)"
        " or month began, in UTC; or in the last 24 hours or 7 days, counted from the start"
        " of the hour 24 (168) hours before the current one (24 to 25 hours back, 7 days to"
        " 7 days and an hour). Kept by the relay: fast at any size.",
    )

    @model_validator(mode="after")
    def _one_window(self):
        if self.since is not None and self.period is not None:
            raise ValueError("give since or period, not both")
        return self


class StreakOut(Schema):
    member_id: int
    current: int
    longest: int
    last_day: date | None


class GrantOut(Schema):
    code: str
    name: str
    description: str
    granted_at: datetime
    reward_amount: int
    reward_transfer_id: int | None


class GrantIn(Schema):
    code: text(64, 1)


def _member(member_id: int) -> Member:
    return get_or_404(Member.objects, member_id, "member")


@router.get(
    "/leaderboards/{currency}",
    auth=scope("ledger:read"),
    response=list[RankOut],
    summary="Top members by balance (or by what they gained in this day, week or month, the"
    " last 24 hours or 7 days, or since a time)",
)
def leaderboard(request: HttpRequest, currency: Currency, q: Query[LeaderboardQuery]):
    around = _member(q.around) if q.around is not None else None
    since, boards, now = q.since, [None], timezone.now()  # one clock read for both
    if q.period in rolling.WINDOWS:
        boards, since = [q.period], rolling.start_of(q.period, now)
    elif q.period is not None:
        boards = [ranks.current(q.period, now)]
        since = ranks.period_bounds(*boards[0])[0]
    elif since is not None:
        # The boards `since` starts: at some hours both a period's and a rolling window's
        # (Monday 00:00 is the week's start and, in Tuesday's first hour, the last 24
        # hours'), and either answers.
        boards = [ranks.current_period(since, now), rolling.matching(since, now)]
        boards = [board for board in boards if board is not None]
    rows = _from_board(currency, q.limit, around) if since is None else None
    for board in boards:
        if rows is not None:
            break
        rows = _from_ranks(currency, q.limit, around, board, now)
    if rows is not None:
        return rows
    found = queries.leaderboard(currency, limit=q.limit, around=around, since=since)
    return [rank.__dict__ for rank in found]


def _from_board(currency: str, limit: int, around: Member | None) -> list[dict] | None:
    """The all-time rows from the board screens read (dashboard.cache.leaderboard: the
    top LEADERBOARD_DEPTH, patched by the relay), or None when it cannot say: more rows
    than it holds, or a window around a member off it or reaching past its last row
    (a board shorter than the depth holds every wallet). The query's order and ranks."""
    if limit > cached.LEADERBOARD_DEPTH:
        return None
    rows = cached.leaderboard(currency, cached.LEADERBOARD_DEPTH)
    if around is None:
        return rows[:limit]
    index = next((i for i, row in enumerate(rows) if row["member_id"] == around.pk), None)
    if index is None:
        return None
    start = max(0, index - limit // 2)
    if start + limit > len(rows) and len(rows) >= cached.LEADERBOARD_DEPTH:
        return None
    return rows[start : start + limit]


def _from_ranks(currency: str, limit: int, around: Member | None, period, now) -> list[dict] | None:
    """The rows from the boards the relay keeps (dashboard.ranks: all time, or the current
    `period`; dashboard.rolling: a rolling window's name), or None when they cannot say
    (not built yet, or this process wrote to the currency and the relay has not caught
    up: the caller asks the database). An unknown currency is refused first (no board is
    made for it)."""
    queries.known_currency(currency)
    if cached.unrelayed(cached.leaderboard_name(currency)):
        return None
    member_id = around.pk if around is not None else None
    if period in rolling.WINDOWS:
        rows = rolling.window(currency, limit, member_id, period, now=now)
    else:
        rows = ranks.window(currency, limit, member_id, period)
    if rows:
        names = dict(
            Member.objects.filter(pk__in=[row["member_id"] for row in rows]).values_list(
                "pk", "display_name"
            )
        )
        for row in rows:
            row["display_name"] = names.get(row["member_id"], "")
    return rows


def _grants(member: Member) -> list[dict]:
    rows = (
        MemberAchievement.objects.filter(member=member)
        .select_related("achievement")
        .order_by("granted_at", "pk")
    )
    return [
        GrantOut(
            code=g.achievement.code,
            name=g.achievement.name,
            description=g.achievement.description,
            granted_at=g.granted_at,
            reward_amount=g.achievement.reward_amount,
            reward_transfer_id=g.transfer_id,
        ).model_dump(mode="json")
        for g in rows
    ]


@router.get(
    "/members/{member_id}/achievements",
    auth=scope("ledger:read"),
    response=list[GrantOut],
    summary="A member's achievements",
)
def achievements(request: HttpRequest, member_id: PathId):
    return _grants(_member(member_id))


@router.post(
    "/members/{member_id}/achievements",
    auth=scope("ledger:write"),
    response={200: list[GrantOut]},
    summary="Grant an achievement (once per member; pays its reward)",
    openapi_extra=idempotency.REQUIRED,
)
def grant(request: HttpRequest, member_id: PathId, payload: GrantIn):
    def work():
        member = _member(member_id)
        achievement = Achievement.objects.filter(code=payload.code).first()
        if achievement is None:
            raise Problem(404, "achievement_not_found", f"no achievement {payload.code!r}")
        actions.grant_achievement(member, achievement, actor=request.auth.actor)
        return 200, _grants(member)

    return idempotency.write(request, payload.model_dump(mode="json"), work, moves_value=True)


@router.post(
    "/members/{member_id}/activity",
    auth=scope("ledger:write"),
    response={200: StreakOut},
    summary="Record that a member was active today (daily streaks; once per day)",
    openapi_extra=idempotency.OPTIONAL,
)
def activity(request: HttpRequest, member_id: PathId):
    def work():
        member = _member(member_id)
        streak = actions.record_activity(member, actor=request.auth.actor)
        return 200, StreakOut(
            member_id=member.pk,
            current=streak.current,
            longest=streak.longest,
            last_day=streak.last_day,
        ).model_dump(mode="json")

    return idempotency.write(request, {}, work, moves_value=False)
