"""The last 24 hours' and 7 days' leaderboards the relay keeps (dashboard.rolling): once
built they rank what each member gained since the window's start as the query's `since`
that start does, as postings commit and as the window moves on by the hour; applied twice
or beside a build they count each posting once."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard import ranks, rolling
from events.models import Event
from ledger import actions as ledger
from ledger import queries
from tests.dashboard.test_cache_bumps import relay_past_the_fixtures
from tests.dashboard.test_ranks import built_by_a_worker
from tests.dashboard.test_ranks_periods import move_at_random
from tests.factories import MemberFactory

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def from_query(name: str, limit: int, around=None, now=None) -> list[dict]:
    since = rolling.start_of(name, now)
    rows = queries.leaderboard("points", limit=limit, around=around, since=since)
    return [asdict(row) | {"display_name": None} for row in rows]


def assert_same_as_the_query(members, now=None) -> None:
    now = now or timezone.now()
    for name in rolling.WINDOWS:
        for limit in (1, 3, len(members) + 1):
            found = rolling.window("points", limit, None, name, now=now)
            assert found == from_query(name, limit, now=now), (name, limit)
            for member in members:
                found = rolling.window("points", limit, member.pk, name, now=now)
                assert found == from_query(name, limit, member, now), (name, limit, member.pk)


@pytest.fixture
def members(monkeypatch):
    """Members registered and awarded before the 7-day window, inside it but before the
    24-hour one, in the first hour of each window, and now: their wallets' versions follow
    time, as a live ledger's do."""
    now, people = timezone.now(), []
    week, day = rolling.start_of("7d", now), rolling.start_of("24h", now)
    earlier = [
        week - timedelta(hours=2),
        week + timedelta(minutes=1),
        day - timedelta(hours=3),
        day + timedelta(seconds=1),
    ]
    for n in range(8):
        with monkeypatch.context() as patched:
            patched.setattr(timezone, "now", lambda n=n: earlier[n % 4])
            people.append(MemberFactory())
            ledger.award(people[-1], 50 + n, reason="x", idempotency_key=f"old-{n}")
        if n % 3:
            ledger.award(people[-1], [7, 30, 7][n % 3], reason="x", idempotency_key=f"new-{n}")
    return people


def build_both() -> None:
    for name in rolling.WINDOWS:
        assert rolling.build("points", name) > 0


def test_built_rolling_boards_rank_the_gains_since_each_window_began(members):
    for name in rolling.WINDOWS:
        assert rolling.window("points", 3, None, name) is None  # not built yet
    build_both()
    week = {row["amount"] for row in from_query("7d", 20)}
    day = {row["amount"] for row in from_query("24h", 20)}
    assert week != day  # the windows differ here, and each board is checked against its own
    assert_same_as_the_query(members)


def test_the_relay_moves_rolling_boards_as_awards_and_spends_commit(members):
    relay = relay_past_the_fixtures()
    build_both()
    move_at_random(members, relay, lambda: assert_same_as_the_query(members), seed=5)


def test_the_window_moves_on_by_the_hour_and_what_left_it_is_subtracted(members):
    """Read an hour, then a day later: the postings of the hours that left the window
    are no longer counted; a board left behind by more than its window is dropped and
    built again on request."""
    relay_past_the_fixtures()
    build_both()
    now = timezone.now()
    assert_same_as_the_query(members, now)
    for hours in (1, 2, 5, 24):
        later = now + timedelta(hours=hours)
        assert rolling.window("points", 20, None, "7d", now=later) == from_query(
            "7d", 20, now=later
        ), hours
    # The 24-hour board, read 30 hours on: too far behind to subtract, dropped.
    assert rolling.window("points", 20, None, "24h", now=now + timedelta(hours=30)) is None
    assert rolling.window("points", 20, None, "24h", now=now) is None  # still dropped
    rolling.build("points", "24h")
    assert rolling.window("points", 20, None, "24h") == from_query("24h", 20)


def test_a_rolling_board_applied_twice_or_beside_its_build_stays_the_same(members):
    relay = relay_past_the_fixtures()
    for n, member in enumerate(members[:4]):
        ledger.award(member, 3 + n, reason="x", idempotency_key=f"tw-{n}")
    while relay.step():
        pass
    build_both()
    rolling.apply_many(list(Event.objects.order_by("seq")))  # every posting again
    rolling.apply_many(list(Event.objects.order_by("-seq")))  # and once more, backwards
    assert_same_as_the_query(members)


def test_without_a_board_the_relay_keeps_nothing_and_forget_drops_every_rolling_key(members):
    from django.core.cache import cache

    relay = relay_past_the_fixtures()
    ledger.award(members[0], 4, reason="x", idempotency_key="nothing-kept")
    while relay.step():
        pass
    assert not list(cache.iter_keys("ranks:points:roll:*"))
    build_both()
    assert list(cache.iter_keys("ranks:points:roll:*"))
    ranks.forget()
    assert not list(cache.iter_keys("ranks:points:roll:*"))
    assert rolling.build("nope", "24h") == 0
    assert rolling.build("points", "3d") == 0


def test_a_window_is_recognised_from_its_exact_start_only():
    from datetime import UTC, datetime

    now = datetime(2026, 12, 16, 14, 30, tzinfo=UTC)
    assert rolling.start_of("24h", now) == datetime(2026, 12, 15, 14, tzinfo=UTC)
    assert rolling.start_of("7d", now) == datetime(2026, 12, 9, 14, tzinfo=UTC)
    assert rolling.matching(datetime(2026, 12, 15, 14, tzinfo=UTC), now) == "24h"
    assert rolling.matching(datetime.fromisoformat("2026-12-15T15:00:00+01:00"), now) == "24h"
    assert rolling.matching(datetime(2026, 12, 9, 14, tzinfo=UTC), now) == "7d"
    assert rolling.matching(datetime(2026, 12, 15, 14, 30, tzinfo=UTC), now) is None
    assert rolling.matching(datetime(2026, 12, 15, 13, tzinfo=UTC), now) is None


def test_a_read_that_finds_no_rolling_board_has_a_celery_worker_build_it(
    members, tmp_path, monkeypatch
):
    read = lambda: rolling.window("points", 3, None, "7d")  # noqa: E731
    assert built_by_a_worker(read, tmp_path, monkeypatch) == from_query("7d", 3)


def test_the_integrity_check_finds_a_total_a_rolling_board_holds_wrongly(members, monkeypatch):
    from django.core.cache import cache

    from dashboard import integrity
    from integrity.registry import get_check

    monkeypatch.setattr(integrity, "SETTLE_SECONDS", 0.01)
    check = get_check("dashboard.cache_matches_database").func
    build_both()
    assert check().count == 0
    # A total off by one on the 7-day board, as a lost or doubled posting would leave it.
    gained = next(row for row in from_query("7d", 20) if row["amount"] > 1)
    zset, totals = rolling._keys("points", "7d")[0]
    client = cache.client.get_client(write=True)
    member = ranks._member(gained["member_id"])
    client.hincrby(totals, member, -1)
    client.zincrby(zset, 1, member)
    assert check().sample == [f"ranks:{gained['member_id']}:points:7d"]
