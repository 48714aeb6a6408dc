"""`manage.py seed_scale --members N --days D` (PostgreSQL): a large, realistic history
made fast by set-based SQL (`analytics/sql/scale_*.sql`, each one INSERT ... SELECT over
generate_series), for benchmarks (bench/analytics.py).

Per member: identity, profile, a points and a credits wallet, the welcome bonus, two
awards and two spends at increasing times (5 transfers, 10 postings), a referral bonus
to the member before for every tenth, a gift of 5 to the member before for every fifth,
an activity day for each day they moved points; a subscription for one in twenty and
the demo story started by one in three. Wallet balances and posting chains are what the
postings say, so `integrity_report` passes. Not made: events (the log starts after the
seed, and the relay has nothing to catch up), story decisions, tournaments. So the
leaderboards the relay keeps (dashboard.ranks) are dropped at the end, to be rebuilt.

The load runs with triggers off (session_replication_role = replica, in its own
transaction: the deferred per-row checks would cost more than the load), then VACUUM
ANALYZE.
"""

from __future__ import annotations

import time

from django.core.management.base import CommandError
from django.db import connection, transaction
from django.utils import timezone
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from analytics.rollup import SQL
from config.commands import ConcordCommand
from config.sqlfiles import load
from dashboard import ranks

STEPS = [
    ("members", "scale_members"),
    ("identities", "scale_identities"),
    ("profiles", "scale_profiles"),
    ("legs", "scale_legs_table"),  # the later steps read the legs from its table
    ("wallets", "scale_wallets"),
    ("transfers", "scale_transfers"),
    ("postings", "scale_postings"),
    ("activity days", "scale_activity"),
    ("story starts", "scale_story_starts"),
    ("subscriptions", "scale_subscriptions"),
    ("sequences", "scale_sequences"),
]


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise CommandError(f"not a whole number: {text}", returncode=2) from None
    if value < 1:
        raise CommandError(f"must be at least 1: {text}", returncode=2)
    return value


class Command(ConcordCommand):
    help = "Generate a large history fast (PostgreSQL, set-based SQL) for benchmarks."

    def add_arguments(self, parser):
        parser.add_argument("--members", required=True, help="How many members to add.")
        parser.add_argument("--days", default="180", help="Over how many days (default 180).")

    def handle(self, *args, members: str, days: str, **options):
        count, span = _count(members), _count(days)
        if span > 3650:
            raise CommandError("--days: at most 3650", returncode=2)
        if connection.vendor != "postgresql":
            raise CommandError("seed_scale needs PostgreSQL (set DATABASE_URL)", returncode=2)
        from narrative.demo import load_demo_story

        story = load_demo_story()
        params = self.params(count, span, story)
        pieces = {"registered_at": load(SQL, "scale_registered_at")}
        legs = load(SQL, "scale_legs", **pieces)
        started = time.perf_counter()
        columns = [TextColumn("{task.description:<16}"), BarColumn(), TimeElapsedColumn()]
        with (
            Progress(*columns, disable=not self.stdout.isatty()) as bar,
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute("SET LOCAL session_replication_role = replica")
            task = bar.add_task("seeding", total=len(STEPS))
            for label, name in STEPS:
                bar.update(task, description=label)
                step = time.perf_counter()
                cursor.execute(load(SQL, name, legs=legs, **pieces), params)
                if name == "scale_legs_table":
                    legs = "SELECT * FROM scale_legs"
                self.stdout.write(
                    f"{label}: {max(cursor.rowcount, 0)} rows in {time.perf_counter() - step:.1f} s"
                )
                bar.advance(task)
        with connection.cursor() as cursor:
            # VACUUM too, as autovacuum would soon: the visibility map it sets is what
            # lets the checks and rollups read indexes alone (index-only scans). Not
            # possible inside a caller's transaction (a test's): ANALYZE only then.
            step = time.perf_counter()
            what = "ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE"
            cursor.execute(what)
            self.stdout.write(f"{what.lower()}: {time.perf_counter() - step:.1f} s")
        # The relay's leaderboards never saw these postings (no events): drop them, the
        # next read rebuilds them from the database.
        self.stdout.write(f"leaderboards kept by the relay dropped: {ranks.forget()}")
        self.stdout.write(
            f"seeded {count} members over {span} days in {time.perf_counter() - started:.1f} s"
        )

    def params(self, count: int, span: int, story) -> dict:
        from ledger.models import Currency

        codes = dict(Currency.objects.values_list("code", "pk"))
        with connection.cursor() as cursor:
            # The system accounts first: their ids come from the sequence (which may be
            # past max(id)); the wallets' are chosen above every id there is.
            cursor.execute(
                load(SQL, "scale_system_accounts"),
                {"points": codes["points"], "now": timezone.now()},
            )
            cursor.execute(
                "SELECT (SELECT coalesce(max(id), 0) FROM accounts_member),"
                " (SELECT coalesce(max(id), 0) FROM ledger_account),"
                " (SELECT coalesce(max(id), 0) FROM ledger_transfer)"
            )
            base, abase, tbase = cursor.fetchone()
        return {
            "n": count,
            "days": span,
            "now": timezone.now(),
            "base": base,
            "abase": abase,
            "tbase": tbase,
            "points": codes["points"],
            "credits": codes["credits"],
            "story": story.pk,
            "chapter": story.chapters.get(number=1).pk,
        }
