"""The current day's, week's and month's leaderboards the relay keeps (dashboard.ranks):
once built they rank what each member gained since the period's start as the query's
`since` does, including transfers made before the period (not counted) and members who
only lost (not ranked)."""

from __future__ import annotations

import random
from dataclasses import asdict
from datetime import UTC, timedelta

import pytest
from django.utils import timezone

from dashboard import ranks
from events.models import Event
from ledger import actions as ledger
from ledger import queries
from tests.dashboard.test_cache_bumps import relay_past_the_fixtures
from tests.factories import MemberFactory

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def start_of(kind: str):
    return ranks.period_bounds(kind, ranks.period_start(kind, timezone.now()))[0]


def from_query(kind: str, limit: int, around=None) -> list[dict]:
    rows = queries.leaderboard("points", limit=limit, around=around, since=start_of(kind))
    return [asdict(row) | {"display_name": None} for row in rows]


def assert_same_as_the_query(members) -> None:
    for kind in ranks.PERIODS:
        for limit in (1, 3, len(members) + 1):
            found = ranks.window("points", limit, period=ranks.current(kind))
            assert found == from_query(kind, limit), kind
            for member in members:
                found = ranks.window("points", limit, member.pk, period=ranks.current(kind))
                assert found == from_query(kind, limit, member), (kind, limit, member.pk)


@pytest.fixture
def members(monkeypatch):
    """Members registered (with their welcome points) and awarded before the month, the
    week or the day began, then some awarded now: their wallets' versions follow time,
    as a live ledger's do."""
    now, people = timezone.now(), []
    earlier = [
        start_of("month") - timedelta(hours=1),
        start_of("week") - timedelta(minutes=1),
        start_of("day") - timedelta(seconds=1),
    ]
    for n in range(8):
        with monkeypatch.context() as patched:
            patched.setattr(timezone, "now", lambda n=n: earlier[n % 3])
            people.append(MemberFactory())
            ledger.award(people[-1], 50 + n, reason="x", idempotency_key=f"old-{n}")
        if n % 4:
            ledger.award(people[-1], [7, 30, 7][n % 3], reason="x", idempotency_key=f"new-{n}")
    assert timezone.now() >= now
    return people


def test_built_period_boards_rank_the_gains_since_each_period_began(members):
    for kind in ranks.PERIODS:
        assert ranks.window("points", 3, period=ranks.current(kind)) is None  # not built yet
        first = ranks.period_start(kind, timezone.now()).isoformat()
        assert ranks.build("points", kind, first) > 0
    assert {row["amount"] for row in from_query("day", 20)} == {7, 30}  # what came before: not
    assert_same_as_the_query(members)


def test_the_relay_moves_period_boards_as_awards_and_spends_commit(members):
    relay = relay_past_the_fixtures()
    for kind in ranks.PERIODS:
        ranks.build("points", kind, ranks.period_start(kind, timezone.now()).isoformat())
    move_at_random(members, relay, lambda: assert_same_as_the_query(members), seed=3)


def move_at_random(members, relay, check, *, seed: int, steps: int = 30) -> None:
    """Random awards and spends (the relay passing them and `check()` every 6 steps)."""
    rng = random.Random(seed)
    for step in range(steps):
        member = rng.choice(members)
        if rng.random() < 0.4 and queries.balance(member, "points")[0] >= 20:
            ledger.spend(member, 20, reason="x", sink="shop", idempotency_key=f"ps-{step}")
        else:
            ledger.award(member, rng.choice([1, 5, 9]), reason="x", idempotency_key=f"pa-{step}")
        if step % 6 == 5:
            while relay.step():
                pass
            check()


def test_a_period_board_applied_twice_or_beside_its_build_stays_the_same(members):
    relay = relay_past_the_fixtures()
    first = ranks.period_start("week", timezone.now())
    for n, member in enumerate(members[:4]):
        ledger.award(member, 3 + n, reason="x", idempotency_key=f"tw-{n}")
    # The relay applies the awards before and after the build: the build replays them.
    while relay.step():
        pass
    ranks.build("points", "week", first.isoformat())
    ranks.apply_many(list(Event.objects.order_by("seq")))  # every move again
    assert ranks.window("points", 10, period=ranks.current("week")) == from_query("week", 10)


def test_the_current_period_is_found_from_its_start_only():
    """On Wednesday 2026-12-16 14:30 UTC: the day from 00:00, the week from Monday the
    14th, the month from the 1st; any other time, or another offset's midnight, is not."""
    from datetime import date, datetime

    now = datetime(2026, 12, 16, 14, 30, tzinfo=UTC)
    midnight = datetime(2026, 12, 16, tzinfo=UTC)
    assert ranks.current_period(midnight, now) == ("day", date(2026, 12, 16))
    monday = datetime(2026, 12, 14, tzinfo=UTC)
    assert ranks.current_period(monday, now) == ("week", date(2026, 12, 14))
    first = datetime(2026, 12, 1, tzinfo=UTC)
    assert ranks.current_period(first, now) == ("month", date(2026, 12, 1))
    assert ranks.period_bounds("month", date(2026, 12, 1))[1] == datetime(2027, 1, 1, tzinfo=UTC)
    same_instant = datetime.fromisoformat("2026-12-16T01:00:00+01:00")
    assert ranks.current_period(same_instant, now) == ("day", date(2026, 12, 16))
    assert ranks.current_period(datetime.fromisoformat("2026-12-16T00:00:00+01:00"), now) is None
    assert ranks.current_period(midnight + timedelta(seconds=1), now) is None
    assert ranks.current_period(midnight - timedelta(days=1), now) is None
