"""Dashboard first paint with 100,000 members, in headless Chromium against daphne.

DATABASE_URL must name a scratch PostgreSQL database (it is migrated and filled);
REDIS_URL the Redis to use (keys under a fresh prefix). The members are bulk-loaded
with COPY, consistent with what registration writes (member, identity, profile, two
wallets, the welcome-bonus transfer with its postings and events); triggers are off for
the load only (session_replication_role = replica) and the ledger's integrity checks
run afterwards to show the data is sound.

Prints, for each page, the server's time to first byte and the browser's first
contentful paint: cold (the first load, on an empty cache: each run uses a fresh
key prefix) and warm (median and worst of several loads).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import time

import common

from tests.browser.conftest import CHROMIUM_ARGS
from tests.servers import free_port, spawn_daphne, stop

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def referral_code(n: int) -> str:
    digits = []
    for _ in range(8):
        n, r = divmod(n, len(ALPHABET))
        digits.append(ALPHABET[r])
    return "".join(reversed(digits))


def load(members: int) -> None:
    """`members` members as registration writes them, by COPY with triggers off (once:
    nothing if the database holds as many already)."""
    from django.db import connection
    from django.utils import timezone

    from ledger.models import Currency

    now = timezone.now()
    points = Currency.objects.get(code="points")
    credits = Currency.objects.get(code="credits")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM accounts_member")
        if cursor.fetchone()[0] >= members:
            print(f"members: {members} already loaded")
            return
    raw = connection.connection
    started = time.perf_counter()
    with raw.transaction():
        raw.execute("SET LOCAL session_replication_role = replica")
        issuance = raw.execute(
            "INSERT INTO ledger_account (currency_id, member_id, name, created_at)"
            " VALUES (%s, NULL, 'issuance', %s) ON CONFLICT DO NOTHING RETURNING id",
            [points.pk, now],
        ).fetchone()
        if issuance is None:
            issuance = raw.execute(
                "SELECT id FROM ledger_account WHERE currency_id = %s AND name = 'issuance'",
                [points.pk],
            ).fetchone()
        base = raw.execute("SELECT coalesce(max(id), 0) FROM accounts_member").fetchone()[0]
        copy_members(raw, base, members, now)
        copy_wallets(raw, base, members, now, (points.pk, credits.pk, issuance[0]))
        for table, column in [
            ("accounts_member", "id"),
            ("ledger_account", "id"),
            ("ledger_transfer", "id"),
        ]:
            raw.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"
                f" (SELECT max({column}) FROM {table}))"
            )
    raw.execute("VACUUM ANALYZE")
    print(f"members: {members} loaded in {time.perf_counter() - started:.1f} s")


def copy_members(raw, base: int, members: int, now) -> None:
    """Members base+1..base+members: each with a telegram identity and a profile."""
    with raw.cursor().copy(
        "COPY accounts_member (id, display_name, language, is_active,"
        " created_at, email, email_normalized, referral_code) FROM STDIN"
    ) as copy:
        for i in range(1, members + 1):
            name = f"player {i}" if i % 50 else f"a rather long display name {i} " * 3
            copy.write_row(
                [
                    base + i,
                    name[:150],
                    "en",
                    True,
                    now,
                    "",
                    None,
                    referral_code(base + i + 10**9),
                ]
            )
    with raw.cursor().copy(
        "COPY accounts_identity (platform, external_id, username, first_name, last_name,"
        " is_bot, created_at, member_id) FROM STDIN"
    ) as copy:
        for i in range(1, members + 1):
            # Telegram ids far from the members' numbers, which display names carry.
            external_id = f"{9_000_000_000 + base + i}"
            copy.write_row(["telegram", external_id, f"p{i}", "", "", False, now, base + i])
    with raw.cursor().copy(
        "COPY accounts_profile (archetype, preferences, personality, welcomed,"
        " onboarding_completed, tutorial_completed, updated_at, member_id) FROM STDIN"
    ) as copy:
        for i in range(1, members + 1):
            copy.write_row(["", "{}", "{}", False, False, False, now, base + i])


def copy_wallets(raw, base: int, members: int, now, ids: tuple[int, int, int]) -> None:
    """Each member's two wallets and its welcome bonus (transfer, postings, events);
    `ids`: the points and credits currencies' and the issuance account's."""
    import json

    points, credits, issuance_id = ids
    tbase = raw.execute("SELECT coalesce(max(id), 0) FROM ledger_transfer").fetchone()[0]
    abase = raw.execute("SELECT coalesce(max(id), 0) FROM ledger_account").fetchone()[0]
    amounts = {i: 100 + (i * 7919) % 100_000 for i in range(1, members + 1)}
    with raw.cursor().copy(
        "COPY ledger_account (id, currency_id, member_id, name, balance, held, version,"
        " created_at) FROM STDIN"
    ) as copy:
        for i in range(1, members + 1):
            copy.write_row([abase + 2 * i - 1, points, base + i, "", amounts[i], 0, 1, now])
            copy.write_row([abase + 2 * i, credits, base + i, "", 0, 0, 0, now])
    with raw.cursor().copy(
        "COPY ledger_transfer (id, kind, idempotency_key, request_hash, reason, context,"
        " created_at) FROM STDIN"
    ) as copy:
        for i in range(1, members + 1):
            copy.write_row(
                [tbase + i, "bonus", f"bench-dash:{base + i}", "", "Welcome bonus", "{}", now]
            )
    with raw.cursor().copy(
        "COPY ledger_posting (transfer_id, account_id, amount, balance_after, version) FROM STDIN"
    ) as copy:
        for i in range(1, members + 1):
            copy.write_row([tbase + i, issuance_id, -amounts[i], None, None])
            copy.write_row([tbase + i, abase + 2 * i - 1, amounts[i], amounts[i], 1])
    with raw.cursor().copy(
        "COPY events_event (kind, subject, data, created_at) FROM STDIN"
    ) as copy:
        for i in range(1, members + 1):
            data = json.dumps({"member_id": base + i, "platform": "telegram"})
            copy.write_row(["member.registered", f"member:{base + i}", data, now])


def measure(base: str, username: str, password: str, member_id: int, loads: int) -> list:
    from playwright.sync_api import sync_playwright

    pages = [
        ("/dashboard/", "#counters"),
        ("/dashboard/members/?q=player%2012345", "table"),
        (f"/dashboard/members/{member_id}/", ".statement"),
        ("/dashboard/overlays/", "#fleet-panel"),
    ]
    rows = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=shutil.which("chromium") or "/usr/bin/chromium",
            headless=True,
            args=CHROMIUM_ARGS,
        )
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        page.goto(f"{base}/admin/login/?next=/dashboard/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("input[type=submit]")
        page.wait_for_url(f"{base}/dashboard/")
        for path, selector in pages:
            timings = []
            for _ in range(loads + 1):
                page.goto(f"{base}{path}", wait_until="load")
                page.wait_for_selector(selector)
                ttfb, fcp = page.evaluate(
                    """() => {
                        const nav = performance.getEntriesByType('navigation')[0];
                        const paint = performance.getEntriesByName('first-contentful-paint')[0];
                        const ttfb = nav.responseStart - nav.requestStart;
                        return [ttfb, paint ? paint.startTime : null];
                    }"""
                )
                timings.append((ttfb, fcp))
            cold, warm = timings[0], timings[1:]
            rows.append(
                (
                    path,
                    cold[0],
                    cold[1],
                    statistics.median(t[0] for t in warm),
                    statistics.median(t[1] for t in warm),
                    max(t[1] for t in warm),
                )
            )
        browser.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=common.positive, default=100_000)
    parser.add_argument("--loads", type=common.positive, default=5, help="warm loads per page")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("bench/dashboard.py: set DATABASE_URL to a scratch PostgreSQL database")
    if not os.environ.get("REDIS_URL"):
        sys.exit("bench/dashboard.py: set REDIS_URL (the cache under test)")

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        print(f"cores: {os.cpu_count()}  database: {cursor.fetchone()[0].split(' on ')[0]}")
    load(args.members)
    from integrity.registry import all_checks

    found = {
        c.name: c.func().count for c in all_checks() if c.name.startswith(("ledger.", "accounts."))
    }
    bad = {name: count for name, count in found.items() if count}
    print(f"integrity: {len(found)} ledger and accounts checks, findings: {bad or 'none'}")
    password = secrets.token_urlsafe(12)
    user, _ = get_user_model().objects.get_or_create(username="bench-dashboard")
    user.is_staff = user.is_superuser = True
    user.set_password(password)
    user.save()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT member_id FROM ledger_account WHERE member_id IS NOT NULL"
            " ORDER BY balance DESC LIMIT 1"
        )
        member_id = cursor.fetchone()[0]
    connection.close()

    port = free_port()
    env = {name: os.environ[name] for name in ("DATABASE_URL", "REDIS_URL", "CACHE_KEY_PREFIX")}
    proc = spawn_daphne(
        {**env, "DJANGO_ALLOWED_HOSTS": "127.0.0.1"}, port, stderr=subprocess.DEVNULL
    )
    try:
        rows = measure(f"http://127.0.0.1:{port}", user.username, password, member_id, args.loads)
    finally:
        stop(proc)
    print(f"\n{args.members} members; first paint in headless Chromium, daphne (DEBUG off)")
    heads = ["cold ttfb", "cold fcp", "ttfb p50", "fcp p50", "fcp max"]
    print(f"{'page':<42} " + " ".join(f"{h:>9}" for h in heads))
    for path, cttfb, cfcp, ttfb, fcp, fmax in rows:
        print(
            f"{path:<42} {cttfb:>8.0f}ms {cfcp:>8.0f}ms {ttfb:>8.0f}ms {fcp:>8.0f}ms {fmax:>8.0f}ms"
        )
    worst = max(max(r[2], r[5]) for r in rows)
    print(
        f"\ntargets:\n  first paint < 1000 ms with {args.members} members: worst {worst:.0f} ms"
        f" -> {'met' if worst < 1000 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
