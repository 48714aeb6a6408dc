"""Before/after of the API's leaderboards, the members list's pager and the home page
(docs/benchmarks/2026-12-06-scale.md, "2026-12-06, later").

    PYTHONPATH=. DJANGO_DEBUG=1 DJANGO_ALLOWED_HOSTS=testserver DATABASE_URL=... \
    REDIS_URL=... python bench/scale_pages.py [lb] [members] [home]

DATABASE_URL: a database seeded by `manage.py seed_scale`; the cache under a fresh prefix.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import uuid

os.environ["CACHE_KEY_PREFIX"] = f"bench-scale-pages-{uuid.uuid4().hex[:6]}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")

import django

django.setup()
from django.core.paginator import Paginator  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.http import QueryDict  # noqa: E402


def timed(call, n=3):
    runs = []
    for _ in range(n):
        t = time.perf_counter()
        call()
        runs.append((time.perf_counter() - t) * 1000)
    return f"median {statistics.median(runs):.0f} ms {[round(r) for r in runs]}"


what = sys.argv[1:] or ["lb", "members", "home"]
if "lb" in what:
    from accounts.models import Member
    from api.routes.standing import _from_board
    from ledger.queries import leaderboard

    print(
        "API leaderboard all time, query (before):",
        timed(lambda: leaderboard("points", limit=20), 5),
    )
    _from_board("points", 20, None)
    print(
        "API leaderboard all time, board (after):",
        timed(lambda: _from_board("points", 20, None), 5),
    )
    top = Member.objects.get(pk=_from_board("points", 20, None)[10]["member_id"])

    def around_query():
        from django.db.utils import OperationalError

        try:
            with transaction.atomic(), connection.cursor() as c:
                c.execute("SET LOCAL statement_timeout = '30s'")
                leaderboard("points", limit=10, around=top)
        except OperationalError:
            print("  (the query hit the 30 s timeout)")

    print(
        "API leaderboard around #11, the query (a member off the board gets it):",
        timed(around_query, 1),
    )
    print(
        "API leaderboard around #11, board (after):",
        timed(lambda: _from_board("points", 10, top), 5),
    )
    assert [r["member_id"] for r in _from_board("points", 20, None)] == [
        r.member_id for r in leaderboard("points", limit=20)
    ]
if "members" in what:
    from dashboard.members_list import Listing, _page

    listing = Listing.of(QueryDict("platform=telegram&sort=name"))
    found = listing.members(pii=False)
    print(
        "members telegram by name, full count (before):", timed(lambda: Paginator(found, 50).count)
    )
    print(
        "members telegram by name, capped count (after):",
        timed(lambda: _page(found, "1").paginator.count),
    )
    print(
        "members telegram by name, first page rows:",
        timed(lambda: list(_page(found, "1").object_list)),
    )
if "home" in what:
    from django.contrib.auth import get_user_model
    from django.test import Client

    user, _ = get_user_model().objects.get_or_create(username="scale2-bench")
    user.is_staff = user.is_superuser = True
    user.save()
    c = Client()
    c.force_login(user)

    def get(path):
        t = time.perf_counter()
        r = c.get(path)
        assert r.status_code == 200, r.status_code
        return (time.perf_counter() - t) * 1000, r.content.decode()

    ms, body = get("/dashboard/")
    print(f"home, nothing cached: {ms:.0f} ms")
    ms, body = get("/dashboard/")
    print(f"home, warm (fresh counters): {ms:.0f} ms")
    time.sleep(1.2)
    ms, body = get("/dashboard/")
    print(f"home, counters lapsed (computed in the request): {ms:.0f} ms")
    for path in [
        "/dashboard/members/?platform=telegram&sort=name",
        "/dashboard/members/?platform=telegram&sort=name&page=3",
    ]:
        ms, body = get(path)
        pager = body.split('class="muted">page')[1].split("<")[0].strip()
        print(f"{path}: {ms:.0f} ms; pager: page {pager}")
