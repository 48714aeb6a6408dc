"""Analytics at scale: seed a large history, roll it up, and time what admins wait for.

DATABASE_URL must name a scratch PostgreSQL database (migrated and filled by
`manage.py seed_scale --members N --days D`, unless it holds members already); REDIS_URL
the Redis to use (keys under a fresh prefix). Prints:
- seeding time, and rolling up every day of the history (manage.py rollup),
- a day's rollup (the busiest day, rebuilt three times: median) and the beat's refresh;
  that day's ledger query alone and the home counters' day (`flows_since`),
- each dashboard page's server time to first byte and first contentful paint in headless
  Chromium against daphne (cold, then median of warm loads): home, members list
  (filtered), a member page, analytics for 90 days,
- the full integrity report, each check's time,
- the members list past the browser's pages (server time): later pages sorted by
  balance, a filter and a search sorted by balance,
- the leaderboard query (all time, last 24 hours, last 7 days, around a member off the
  board: uncached), the cached board, and the relay's patch of it after an award; the
  API's boards from what the relay keeps (dashboard.ranks): all time around random
  members and past the cached top, this day's, week's and month's top and around members
  who moved (against the query summing the period), with each board's build and memory.

`--only rollups,members` (say) measures only those parts.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from datetime import timedelta

import common

from tests.browser.conftest import CHROMIUM_ARGS
from tests.servers import free_port, spawn_daphne, stop

PARTS = {"rollups", "leaderboards", "integrity", "members", "pages"}


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def seed(members: int, days: int) -> None:
    from django.core.management import call_command

    from accounts.models import Member

    if Member.objects.count() >= members:
        print(f"seed: {Member.objects.count()} members already there")
        return
    started = time.perf_counter()
    call_command("seed_scale", members=str(members), days=str(days))
    print(f"seed: {time.perf_counter() - started:.1f} s")


def rollups(days: int) -> None:
    from django.db import connection
    from django.utils import timezone

    from analytics.actions import rebuild, rebuild_days, refresh_recent
    from analytics.models import Grain
    from analytics.rollup import day_start

    today = timezone.now().date()
    started = time.perf_counter()
    if days:
        rebuild_days(today - timedelta(days=days), today)
        print(f"rollup of {days + 1} days: {time.perf_counter() - started:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT created_at::date, count(*) FROM ledger_transfer GROUP BY 1 ORDER BY 2 DESC"
            " LIMIT 1"
        )
        busiest, transfers = cursor.fetchone()
    start = day_start(busiest)
    runs = [timed(lambda: rebuild(Grain.DAY, start, start + timedelta(days=1))) for _ in range(3)]
    print(f"a day's rollup ({busiest}, {transfers} transfers): {statistics.median(runs):.0f} ms")
    print(f"the beat's refresh (today, yesterday, 2 hours): {timed(refresh_recent):.0f} ms")
    from analytics.rollup import adapt, run
    from ledger.queries import flows_since

    day = {"start": adapt(start), "end": adapt(start + timedelta(days=1))}
    midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    for label, call in (
        (f"the day's ledger query ({busiest})", lambda: run("ledger", day)),
        ("the home counters' day (flows_since today)", lambda: flows_since(midnight)),
    ):
        runs = [timed(call) for _ in range(5)]
        print(f"{label}: median {statistics.median(runs):.0f} ms, max {max(runs):.0f}")


def integrity() -> None:
    from integrity.runner import run_checks

    started = time.perf_counter()
    report = run_checks()
    total = time.perf_counter() - started
    for check in sorted(report.checks, key=lambda c: -c.duration_ms):
        print(f"  {check.name:<44} {check.status:<7} {check.duration_ms:>9.0f} ms")
    print(f"integrity report: {total:.1f} s, {'ok' if report.ok else 'FAILED'}")


def leaderboards() -> None:
    """The query (uncached: the API's), then what screens read: the cached board, and the
    relay's patch after an award (dashboard.cache.patched_board) against a recompute."""
    from django.utils import timezone

    from accounts.models import Member
    from dashboard import cache as cached
    from events.relay import Relay
    from ledger import actions
    from ledger.queries import leaderboard

    week = timezone.now() - timedelta(days=7)
    day = timezone.now() - timedelta(days=1)
    middle = Member.objects.order_by("pk")[Member.objects.count() // 2]
    for label, call in (
        ("all time", lambda: leaderboard("points", limit=10)),
        ("last 24 hours", lambda: leaderboard("points", limit=10, since=day)),
        ("last 7 days", lambda: leaderboard("points", limit=10, since=week)),
        ("around a member off the board", lambda: leaderboard("points", limit=10, around=middle)),
        ("cached (screens)", lambda: cached.leaderboard("points", 10)),
    ):
        runs = [timed(call) for _ in range(5)]
        print(f"leaderboard {label}: median {statistics.median(runs):.1f} ms, max {max(runs):.1f}")
    relay = Relay(deliver=lambda messages: None)
    relay.start()
    top = cached.leaderboard("points", 1)[0]
    member = Member.objects.get(pk=top["member_id"])
    patched = []
    for n in range(5):
        key = f"bench-lb:{uuid.uuid4().hex}"
        actions.award(member, 1 + n, reason="bench", idempotency_key=key)
        patched.append(timed(relay.step))
        after = timed(lambda: cached.leaderboard("points", 10))
        row = cached.leaderboard("points", 1)[0]
        assert row["member_id"] == top["member_id"], row
    print(
        f"leaderboard after an award: relay batch (patch included) median"
        f" {statistics.median(patched):.1f} ms; the next read {after:.1f} ms"
        f" (shows the award: {row['amount']})"
    )
    api_ranks(relay)


def api_ranks(relay) -> None:
    """The API's boards from what the relay keeps (dashboard.ranks, .rolling), through the
    Bot API's middleware, in process: all time around members anywhere and past the cached
    top; the current day, week and month and the last 24 hours and 7 days (top, and around
    members who moved), against the query summing the period's postings. Each board's
    build and memory; the relay's batch with them."""
    from django.utils import timezone
    from django_redis import get_redis_connection

    from accounts.models import Member
    from api.actions.keys import create_key
    from dashboard import ranks, rolling
    from ledger import actions
    from ledger.queries import leaderboard
    from tests.api.conftest import bot_api_client

    redis, now = get_redis_connection("default"), timezone.now()
    build_boards(redis, now)
    client = bot_api_client()

    def get(query: str, token: str) -> None:
        response = client.get(
            f"/api/v1/ledger/leaderboards/points?{query}",
            HTTP_AUTHORIZATION=f"Bearer {token}",
            HTTP_HOST="localhost",
        )
        assert response.status_code == 200, (response.status_code, dict(response.headers))

    get("limit=1", create_key(label="bench", scopes=["ledger:read"]).token)  # cached board
    ids = list(Member.objects.order_by("?").values_list("pk", flat=True)[:300])
    cases = [
        ("all time around a random member, 10 rows", [f"around={pk}&limit=10" for pk in ids]),
        ("all time, the top 100 (past the cached board)", ["limit=100"] * 100),
    ]
    for kind in ranks.PERIODS:
        key = ranks._keys("points", (kind, ranks.period_start(kind, now)))[0]
        moved = [int(m) for m in redis.zrandmember(key, 301) if m != b"~"][:300]
        start = ranks.period_bounds(kind, ranks.period_start(kind, now))[0]
        summed = [timed(lambda s=start: leaderboard("points", limit=10, since=s)) for _ in range(3)]
        print(f"query summing this {kind}'s postings: median {statistics.median(summed):.0f} ms")
        cases += [
            (f"this {kind}, the top 10", [f"period={kind}&limit=10"] * 100),
            (f"this {kind} around one who moved", [f"period={kind}&around={m}" for m in moved]),
        ]
    for name in rolling.WINDOWS:
        key = rolling._keys("points", name)[0][0]
        moved = [int(m) for m in redis.zrandmember(key, 301) if m != b"~"][:300]
        start = rolling.start_of(name)
        summed = [timed(lambda s=start: leaderboard("points", limit=10, since=s)) for _ in range(3)]
        print(
            f"query summing the last {name}'s postings: median {statistics.median(summed):.0f} ms"
        )
        cases += [
            (f"the last {name}, the top 10", [f"period={name}&limit=10"] * 100),
            (f"the last {name} around one who moved", [f"period={name}&around={m}" for m in moved]),
        ]
    for label, queries in cases:  # a key each: ledger:read allows 1,200 a minute
        token = create_key(label="bench", scopes=["ledger:read"]).token
        runs = sorted(timed(lambda q=q, t=token: get(q, t)) for q in queries)
        p99 = runs[min(len(runs) - 1, int(len(runs) * 0.99))]
        print(
            f"API leaderboard {label}: p50 {statistics.median(runs):.1f} ms,"
            f" p99 {p99:.1f} ms ({len(runs)} requests)"
        )
    member = Member.objects.get(pk=random.choice(ids))
    batches = []
    for n in range(5):
        actions.award(member, 1 + n, reason="bench", idempotency_key=f"bench-rk:{uuid.uuid4().hex}")
        batches.append(timed(relay.step))
    print(f"relay batch of one award (patch, boards): median {statistics.median(batches):.1f} ms")
    boards_apply(ids)


def build_boards(redis, now) -> None:
    """Every board the relay keeps, built as a worker would: time and Redis memory."""
    from dashboard import ranks, rolling

    builds = [
        (kind, lambda k=kind: ranks.build("points", k, ranks.period_start(k, now).isoformat()))
        for kind in ranks.PERIODS
    ]
    builds = [("all time", lambda: ranks.build("points")), *builds]
    builds += [(name, lambda n=name: rolling.build("points", n)) for name in rolling.WINDOWS]
    for label, build in builds:
        memory = redis.info("memory")["used_memory"]
        built = timed(build)
        grown = (redis.info("memory")["used_memory"] - memory) / 2**20
        print(f"board {label}: built in {built / 1000:.1f} s, {grown:.0f} MB in Redis")


def boards_apply(ids: list[int]) -> None:
    """What the relay's board handlers (dashboard.ranks and .rolling's apply_many) cost a
    batch of 1 and of 100 transfers to random members (made-up moves: the boards are
    dropped after)."""
    from django.utils import timezone

    from dashboard import ranks, rolling
    from dashboard.scopes import TRANSFER_POSTED
    from events.models import Event

    version = 10**6  # above any wallet's: every move applies

    def batch(size: int) -> list:
        nonlocal version
        events = []
        for _ in range(size):
            version += 1
            posting = {"member_id": random.choice(ids), "system": None, "amount": 5}
            posting |= {"balance": version, "version": version}
            data = {"currency": "points", "postings": [posting]}
            events.append(Event(kind=TRANSFER_POSTED, data=data, created_at=timezone.now()))
        return events

    for size in (1, 100):
        batches = [batch(size) for _ in range(20)]
        runs = [timed(lambda b=b: ranks.apply_many(b)) for b in batches]
        print(f"boards' relay handler, a batch of {size}: median {statistics.median(runs):.2f} ms")
        runs = [timed(lambda b=b: rolling.apply_many(b)) for b in batches]
        print(
            f"rolling boards' handler, a batch of {size}: median {statistics.median(runs):.2f} ms"
        )
    ranks.forget()


LIST_PAGES = [
    "/dashboard/members/?sort=balance&page=2",
    "/dashboard/members/?sort=balance&page=200",
    "/dashboard/members/?platform=telegram&sort=balance",
    "/dashboard/members/?q=player&sort=balance",
    "/dashboard/members/?q=player",
    "/dashboard/members/?q=player%2012345&sort=balance",
    "/dashboard/members/?sort=name&page=1000",
]


def members_list() -> None:
    """The members list past what the browser loads: later pages sorted by balance, a
    filter or a search sorted by balance (the server's time, Django's test client)."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    user, _ = get_user_model().objects.get_or_create(username="bench-analytics-list")
    user.is_staff = user.is_superuser = True
    user.save()
    client = Client()
    client.force_login(user)
    from dashboard import ranks

    # What a worker does on the first read that finds no board (pages past the first,
    # sorted by balance, read it).
    print(f"members list: the all-time board built first ({ranks.build('points')} wallets)")
    for path in LIST_PAGES:
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            answer = client.get(path, HTTP_HOST="127.0.0.1")
            runs.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200, (path, answer.status_code)
        print(f"{path}: server time median {statistics.median(runs):.0f} ms, max {max(runs):.0f}")
    ranks.forget()  # hundreds of MB at this size: not left in a shared Redis


def pages(member_id: int, loads: int) -> list:
    from django.contrib.auth import get_user_model
    from django.db import connection

    password = secrets.token_urlsafe(12)
    user, _ = get_user_model().objects.get_or_create(username="bench-analytics")
    user.is_staff = user.is_superuser = True
    user.set_password(password)
    user.save()
    connection.close()
    port = free_port()
    env = {name: os.environ[name] for name in ("DATABASE_URL", "REDIS_URL", "CACHE_KEY_PREFIX")}
    proc = spawn_daphne(
        {**env, "DJANGO_ALLOWED_HOSTS": "127.0.0.1"}, port, stderr=subprocess.DEVNULL
    )
    try:
        return browse(f"http://127.0.0.1:{port}", user.username, password, member_id, loads)
    finally:
        stop(proc)


PAINT = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const paint = performance.getEntriesByName('first-contentful-paint')[0];
  return [nav.responseStart - nav.requestStart, paint ? paint.startTime : null];
}"""


PAINTED = "() => performance.getEntriesByName('first-contentful-paint').length > 0"


def browse(base: str, username: str, password: str, member_id: int, loads: int) -> list:
    from playwright.sync_api import sync_playwright

    paths = [
        ("/dashboard/", "#counters"),
        ("/dashboard/members/?q=player%2012345", "table"),
        ("/dashboard/members/?q=player", "table"),  # a name every member has
        ("/dashboard/members/?sort=balance", "table"),
        ("/dashboard/members/?platform=telegram&sort=name", "table"),
        (f"/dashboard/members/{member_id}/", ".statement"),
        ("/dashboard/analytics/?range=90d", ".uplot"),
    ]
    rows = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium",
            headless=True,
            args=CHROMIUM_ARGS,
        )
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.set_default_timeout(60_000)
        # Logged in to the admin's index: the first load of each page below is its cold one.
        page.goto(f"{base}/admin/login/?next=/admin/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("input[type=submit]")
        page.wait_for_url(f"{base}/admin/")
        for path, selector in paths:
            timings = []
            for _ in range(loads + 1):
                page.goto(f"{base}{path}", wait_until="load")
                page.wait_for_selector(selector)
                page.wait_for_function(PAINTED)  # the entry may land after `load`
                timings.append(page.evaluate(PAINT))
            cold, warm = timings[0], timings[1:]
            rows.append(
                (
                    path,
                    cold[0],
                    cold[1],
                    statistics.median(t[0] for t in warm),
                    statistics.median(t[1] for t in warm),
                )
            )
        browser.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=common.positive, default=100_000)
    parser.add_argument("--days", type=common.positive, default=180)
    parser.add_argument("--loads", type=common.positive, default=3, help="warm loads per page")
    parser.add_argument(
        "--rollup-days",
        type=int,
        default=None,
        help="days to roll up before measuring (default: --days; 0: none, already done)",
    )
    parser.add_argument(
        "--only",
        default=",".join(sorted(PARTS)),
        help=f"what to measure, comma-separated (default: all of {','.join(sorted(PARTS))})",
    )
    args = parser.parse_args()
    only = set(args.only.split(","))
    if not only <= PARTS:
        sys.exit(f"bench/analytics.py: --only takes {','.join(sorted(PARTS))}")
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("bench/analytics.py: set DATABASE_URL to a scratch PostgreSQL database")
    if not os.environ.get("REDIS_URL"):
        sys.exit("bench/analytics.py: set REDIS_URL (the cache under test)")

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        print(f"cores: {os.cpu_count()}  database: {cursor.fetchone()[0].split(' on ')[0]}")
    seed(args.members, args.days)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM accounts_member), (SELECT count(*) FROM ledger_posting),"
            " (SELECT member_id FROM ledger_account WHERE member_id IS NOT NULL"
            "  ORDER BY balance DESC LIMIT 1)"
        )
        members, postings, member_id = cursor.fetchone()
    print(f"size: {members} members, {postings} postings")
    if "rollups" in only:
        rollups(args.days if args.rollup_days is None else args.rollup_days)
    if "leaderboards" in only:
        leaderboards()
    if "integrity" in only:
        integrity()
    if "members" in only:
        members_list()
    if "pages" not in only:
        return
    rows = pages(member_id, args.loads)
    print("\nfirst byte and first paint, headless Chromium against daphne (DEBUG off)")
    heads = ["cold ttfb", "cold fcp", "ttfb p50", "fcp p50"]
    print(f"{'page':<40} " + " ".join(f"{h:>9}" for h in heads))
    for path, cttfb, cfcp, ttfb, fcp in rows:
        print(f"{path:<40} {cttfb:>7.0f}ms {cfcp:>7.0f}ms {ttfb:>7.0f}ms {fcp:>7.0f}ms")


if __name__ == "__main__":
    main()
