"""The API's all-time leaderboard reads the board screens read (dashboard.cache.leaderboard,
patched by the relay) when the request falls within it, every member's rank kept by the
relay (dashboard.ranks) once that is built, and the query otherwise; either
way the answer is the accounts' own order (checked by hand, not by the query)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard import cache as cached
from dashboard import ranks, rolling
from events.relay import Relay
from ledger import actions as ledger
from ledger import queries
from ledger.models import Account
from tests.factories import MemberFactory

DEPTH = 4
pytestmark = pytest.mark.django_db(transaction=True)


def by_hand(limit: int, around: int | None = None) -> list[tuple[int, int, int]]:
    """(rank, member id, amount) from the wallets themselves, as the API documents it."""
    wallets = Account.objects.filter(member__isnull=False, currency__code="points")
    rows = sorted(wallets.values_list("member_id", "balance"), key=lambda r: (-r[1], r[0]))
    ranked = [(1 + sum(b > amount for _, b in rows), m, amount) for m, amount in rows]
    start = 0
    if around is not None:
        start = max(0, [m for _, m, _ in ranked].index(around) - limit // 2)
    return ranked[start : start + limit]


@pytest.fixture
def counted(monkeypatch):
    """The leaderboard queries run (the board's own compute included)."""
    calls = []
    query = queries.leaderboard
    monkeypatch.setattr(cached, "LEADERBOARD_DEPTH", DEPTH)
    monkeypatch.setattr(queries, "leaderboard", lambda *a, **k: calls.append(k) or query(*a, **k))
    return calls


def read(bot, **params) -> list[tuple[int, int, int]]:
    response = bot.get("/ledger/leaderboards/points", **params)
    assert response.status_code == 200, response.content
    rows = response.json()
    assert all(r["display_name"] for r in rows)
    return [(r["rank"], r["member_id"], r["amount"]) for r in rows]


def awarded_and_relayed(key: str) -> tuple[list, Relay]:
    """Seven members with 40, 90, 40, 5, 70, 90 and 0 points more (ties share a rank),
    and a relay that has passed every event."""
    members = [MemberFactory() for _ in range(7)]
    for n, amount in enumerate([40, 90, 40, 5, 70, 90, 0]):
        if amount:
            ledger.award(members[n], amount, reason="x", idempotency_key=f"{key}-{n}")
    relay = Relay(deliver=lambda messages: None)
    relay.start()
    while relay.step():
        pass
    return members, relay


def test_all_time_boards_come_from_the_cached_board_and_match_the_wallets(bot, counted):
    members, relay = awarded_and_relayed("lb")
    read(bot, limit=1)  # the board is computed once (a miss)
    for round_ in range(2):
        for limit in range(1, DEPTH + 3):
            for around in [None, *(m.pk for m in members)]:
                counted.clear()
                params = {"limit": limit} | ({"around": around} if around else {})
                assert read(bot, **params) == by_hand(limit, around), params
                board = [m for _, m, _ in by_hand(DEPTH)]
                window = by_hand(limit, around)
                fits = limit <= DEPTH and (
                    around is None or (around in board and window[-1][1] in board)
                )
                assert (counted == []) == fits, params  # the board, or the query
        # An award moves a wallet onto the board: the relay patches it, the API shows it.
        ledger.award(members[3], 200, reason="x", idempotency_key=f"lb-up-{round_}")
        relay.step()
        assert cached.peek(cached.leaderboard_name("points")) is not None  # patched, stored
        counted.clear()
        assert read(bot, limit=2) == by_hand(2)
        assert by_hand(1)[0][1] == members[3].pk
        assert counted == []


def test_since_and_windows_past_the_board_run_the_query(bot, counted):
    members = [MemberFactory() for _ in range(DEPTH + 2)]
    for n, member in enumerate(members):
        ledger.award(member, 10 * (n + 1), reason="x", idempotency_key=f"lb-{n}")
    last = members[0].pk  # the lowest balance: off the board
    assert read(bot, limit=3, around=last) == by_hand(3, last)
    assert counted[-1].get("around") is not None
    assert read(bot, limit=DEPTH + 1) == by_hand(DEPTH + 1)
    assert counted[-1]["limit"] == DEPTH + 1
    counted.clear()
    since = "2000-01-01T00:00:00Z"
    gained = read(bot, limit=3, since=since)  # no spending: what they gained is their balance
    assert counted
    assert counted[-1]["since"] is not None
    assert gained == by_hand(3)


def test_the_querys_window_around_each_member_is_the_wallets_order():
    """`around` reads the member's position once (a scalar subquery, where a joined CTE
    was rescanned per row: over 30 s at 100,000 members); same rows as by hand."""
    from dataclasses import astuple

    members = [MemberFactory() for _ in range(6)]
    for n, amount in enumerate([40, 90, 40, 5, 70, 0]):
        if amount:
            ledger.award(members[n], amount, reason="x", idempotency_key=f"around-{n}")
    for limit in range(1, 8):
        for member in members:
            rows = queries.leaderboard("points", limit=limit, around=member)
            assert [(r.rank, r.member_id, r.amount) for r in rows] == by_hand(limit, member.pk)
            assert all(astuple(r)[2] for r in rows)  # display names


@pytest.mark.redis
def test_past_the_board_the_api_reads_every_members_rank_kept_by_the_relay(bot, counted):
    """dashboard.ranks: once built, a window the board cannot answer needs no query."""
    members, relay = awarded_and_relayed("lr")
    ranks.build("points")
    for round_ in range(2):
        for limit in (1, 3, DEPTH + 2, 9):
            for around in [None, *(m.pk for m in members)]:
                counted.clear()
                params = {"limit": limit} | ({"around": around} if around else {})
                assert read(bot, **params) == by_hand(limit, around), params
                assert all(set(call) == {"limit"} for call in counted), params  # the board's own
        ledger.award(members[6], 75 + round_, reason="x", idempotency_key=f"lr-up-{round_}")
        relay.step()


@pytest.mark.redis
def test_the_current_day_week_and_month_come_from_the_boards_the_relay_keeps(bot, counted):
    """`period`, or `since` its start, reads dashboard.ranks once built: no summing query;
    any other `since` is summed; both at once is refused."""
    members = [MemberFactory() for _ in range(5)]
    relay = Relay(deliver=lambda messages: None)
    relay.start()
    for n, member in enumerate(members):
        ledger.award(member, [30, 5, 30, 12, 1][n], reason="x", idempotency_key=f"lp-{n}")
    while relay.step():
        pass
    now = timezone.now()
    for kind in ranks.PERIODS:
        first = ranks.period_start(kind, now)
        ranks.build("points", kind, first.isoformat())
        start = ranks.period_bounds(kind, first)[0]
        expected = [
            (r.rank, r.member_id, r.amount)
            for r in queries.leaderboard("points", limit=10, since=start)
        ]
        counted.clear()
        assert read(bot, period=kind, limit=10) == expected, kind
        assert read(bot, since=start.isoformat(), limit=10) == expected, kind
        assert counted == [], kind  # no query summed the postings
    counted.clear()
    read(bot, since=(now - timedelta(hours=30)).isoformat())
    assert [call.get("since") is not None for call in counted] == [True]
    response = bot.get("/ledger/leaderboards/points", period="day", since=now.isoformat())
    assert response.status_code == 422
    assert response.json()["code"] == "validation_failed"
    for params in ({"period": "day"}, {"limit": 80}):  # no board made for a currency
        for _ in range(2):
            response = bot.get("/ledger/leaderboards/nope", **params)
            assert response.status_code == 422, params
            assert response.json()["code"] == "unknown_currency"


@pytest.mark.redis
def test_the_last_24_hours_and_7_days_come_from_the_boards_the_relay_keeps(
    bot, counted, monkeypatch
):
    """`period=24h|7d`, or `since` the window's start, reads dashboard.rolling once built
    (no summing query; before, the query, and a build is queued); the same rows as the
    query's `since` that start."""
    members = [MemberFactory() for _ in range(5)]
    relay = Relay(deliver=lambda messages: None)
    relay.start()
    for n, member in enumerate(members):
        ledger.award(member, [30, 5, 30, 12, 1][n], reason="x", idempotency_key=f"lw-{n}")
    while relay.step():
        pass
    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now)  # no hour turns between reads
    for name in rolling.WINDOWS:
        start = rolling.start_of(name)
        expected = [
            (r.rank, r.member_id, r.amount)
            for r in queries.leaderboard("points", limit=10, since=start)
        ]
        counted.clear()
        assert read(bot, period=name, limit=10) == expected, name  # not built: the query
        assert [call.get("since") for call in counted] == [start], name
        near = [
            (r.rank, r.member_id, r.amount)
            for r in queries.leaderboard("points", limit=3, around=members[3], since=start)
        ]
        rolling.build("points", name)
        counted.clear()
        assert read(bot, period=name, limit=10) == expected, name
        assert read(bot, since=start.isoformat(), limit=10) == expected, name
        assert read(bot, period=name, limit=3, around=members[3].pk) == near, name
        assert counted == [], name  # no query summed the postings
    response = bot.get("/ledger/leaderboards/points", period="3d")
    assert response.status_code == 422


@pytest.mark.redis
@pytest.mark.parametrize(
    ("now", "since", "period", "window"),
    [  # a Tuesday's first hour; the 8th's first hour of a month (2026-12-01: a Tuesday)
        ("2026-12-08T00:30:00+00:00", "2026-12-07T00:00:00+00:00", "week", "24h"),
        ("2026-12-08T00:30:00+00:00", "2026-12-01T00:00:00+00:00", "month", "7d"),
    ],
)
def test_a_since_starting_a_period_and_a_rolling_window_reads_whichever_board_is_built(
    bot, counted, monkeypatch, now, since, period, window
):
    """At some hours one instant starts both a period and a rolling window (Monday 00:00 is
    the week's start and, through Tuesday's first hour, the last 24 hours'): `since` that
    instant is answered by either board once built, not summed because the other is not."""
    from datetime import datetime

    now, since = datetime.fromisoformat(now), datetime.fromisoformat(since)
    monkeypatch.setattr(timezone, "now", lambda: now)
    assert ranks.current_period(since, now)[0] == period
    assert rolling.matching(since, now) == window
    members = [MemberFactory() for _ in range(4)]
    relay = Relay(deliver=lambda messages: None)
    relay.start()
    for n, member in enumerate(members):
        ledger.award(member, [9, 40, 3, 40][n], reason="x", idempotency_key=f"both-{n}")
    while relay.step():
        pass
    expected = [
        (r.rank, r.member_id, r.amount)
        for r in queries.leaderboard("points", limit=10, since=since)
    ]
    assert len(expected) == 4
    rolling.build("points", window)  # only the rolling board: the period's is not built
    counted.clear()
    assert read(bot, since=since.isoformat(), limit=10) == expected
    assert counted == []  # no query summed the postings
