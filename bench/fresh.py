"""Benchmark a new community's first hour: awards on tables the planner has no statistics
for yet, then the same after ANALYZE.

A community starts on a freshly migrated database. Until autovacuum (or someone) has
analyzed its tables, PostgreSQL plans every statement from guesses: a table never
analyzed is taken to be at least ten pages of rows of default width, every column to have
200 distinct values. The figures here say what an award costs in that state, and after
`ANALYZE`, on the same tables with the same rows.

DATABASE_URL names a scratch PostgreSQL database that the script creates afresh: it is
dropped and created again (refused if it holds tables, unless --recreate), migrated,
~50 members are registered (untimed), and then one process awards for --duration seconds
twice:

  1. before ANALYZE: nothing analyzed the tables since they were created, and autovacuum
     is switched off on the hot tables (`autovacuum_enabled = false`, this database only)
     so it cannot analyze them halfway through the phase;
  2. after ANALYZE: autovacuum's settings restored, `ANALYZE` run, a new connection.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/concord_fresh \\
        .venv/bin/python bench/fresh.py [--members 50] [--duration 5] [--recreate]

Besides awards/s and p50/p99 it prints, per award, the CPU the worker process and its
PostgreSQL backend spent (the backend's from /proc when the server is on this machine):
on a shared machine that is the steadier measure of what a plan costs.

Exit 0: both phases ran and their transfers are all stored; 1: a phase failed or did not
verify; 2: bad arguments or environment, or a database that holds data (one line on stderr).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid

import common
from timing import (
    BackendCpu,
    fmt,
)

# The tables an award, a registration, a tournament registration and a story decision
# read and write; autovacuum is kept off them during the first phase.
HOT_TABLES = (
    "accounts_member",
    "accounts_identity",
    "accounts_profile",
    "ledger_currency",
    "ledger_account",
    "ledger_transfer",
    "ledger_posting",
    "ledger_achievement",
    "ledger_memberachievement",
    "events_event",
)


# --- arguments and the scratch database -------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The arguments; then the scratch database is made afresh (before Django migrates it)."""
    parser = common.bench_parser("bench/fresh.py", __doc__)
    parser.add_argument("--members", type=common.positive, default=50, help="members (default 50)")
    parser.add_argument(
        "--duration",
        type=common.bounded(0.5, 600, "seconds", called="a number of seconds"),
        default=5.0,
        help="seconds per phase (default 5)",
    )
    parser.add_argument(
        "--recreate",
        action="store_true",
        help="drop the database named by DATABASE_URL even if it holds tables",
    )
    args = parser.parse_args(argv)
    common.at_most("--members", args.members, 5000, "a new community")
    args.url, args.local = common.postgres_url()
    args.database = recreate(args.url, force=args.recreate)
    return args


def recreate(url: str, *, force: bool) -> str:
    """Drop and create the database `url` names, from the server's `postgres` database;
    Refused (nothing dropped) if it holds tables and not `force`. Returns its name."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = conninfo_to_dict(url).get("dbname")
    if not name:
        raise common.Refused("DATABASE_URL names no database (postgres://user@host/NAME)")
    if name in {"postgres", "template0", "template1"}:
        raise common.Refused(f"DATABASE_URL names {name!r}: name a scratch database instead")
    try:
        tables = 0
        with psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True) as admin:
            exists = admin.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [name]
            ).fetchone()
            if exists and not force:
                with psycopg.connect(url) as scratch:
                    (tables,) = scratch.execute(
                        "SELECT count(*) FROM pg_class c"
                        " JOIN pg_namespace n ON n.oid = c.relnamespace"
                        " WHERE c.relkind IN ('r', 'p')"
                        " AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
                        " AND n.nspname NOT LIKE 'pg_toast%%'"
                    ).fetchone()
            if tables:
                raise common.Refused(
                    f"database {name!r} holds {tables} tables: this benchmark drops it;"
                    " give --recreate if it is a scratch database"
                )
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as error:
        reason = (str(error).strip().splitlines() or ["?"])[0]
        raise common.Refused(f"cannot recreate database {name!r}: {reason}") from None
    return name


# --- setup ------------------------------------------------------------------------------


def register(count: int, prefix: str) -> tuple[list, list[float]]:
    """`count` members registered as bots register them (wallets, welcome bonus), in this
    process; their latencies in seconds."""
    from accounts.actions import register_member

    members, latencies = [], []
    for i in range(count):
        began = time.perf_counter()
        registration = register_member(
            platform="web", external_id=f"{prefix}-{i}", username=f"fresh {i}"
        )
        latencies.append(time.perf_counter() - began)
        members.append(registration.member)
    return members, latencies


def autovacuum(enabled: bool) -> None:
    """Switch autovacuum off the hot tables, or give them the server's setting back."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in HOT_TABLES:
            if enabled:
                cursor.execute(f"ALTER TABLE {table} RESET (autovacuum_enabled)")
            else:
                cursor.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")


def statistics_state() -> str:
    """How many hot tables the planner has statistics for (reltuples -1: never analyzed)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE reltuples >= 0), count(*) FROM pg_class"
            " WHERE relkind = 'r' AND relname = ANY(%s) AND relnamespace = 'public'::regnamespace",
            [list(HOT_TABLES)],
        )
        analyzed, total = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM ledger_account")
        (accounts,) = cursor.fetchone()
    return f"{analyzed} of {total} hot tables analyzed; {accounts} accounts"


# --- measuring --------------------------------------------------------------------------


def phase(name: str, members: list, duration: float, local: bool, run_id: str) -> dict:
    """Award to `members` in turn for `duration` seconds on a new connection (so every
    statement is planned in this phase, with the statistics of the moment)."""
    from django.db import connection

    from ledger.actions import award

    connection.close()
    cpu = BackendCpu(local)
    key = f"fresh:{run_id}:{name}:"
    cpu.start()
    began = time.perf_counter()
    deadline = began + duration
    latencies = []
    i = 0
    while time.perf_counter() < deadline:
        member = members[i % len(members)]
        started = time.perf_counter()
        award(member, 1 + i % 100, reason="fresh bench award", idempotency_key=f"{key}{i}")
        latencies.append(time.perf_counter() - started)
        i += 1
    wall = time.perf_counter() - began
    client, server = cpu.used()
    calls = len(latencies)
    q = statistics.quantiles(latencies, n=100, method="inclusive") if calls > 1 else [0] * 99
    verify(key, calls)
    return {
        "calls": calls,
        "rate": calls / wall,
        "p50": q[49] * 1000,
        "p99": q[98] * 1000,
        "client_ms": client / calls * 1000,
        "server_ms": None if server is None else server / calls * 1000,
    }


def verify(key: str, calls: int) -> None:
    from ledger.models import Transfer

    stored = Transfer.objects.filter(idempotency_key__startswith=key).count()
    if stored != calls:
        raise common.BenchFailed(
            f"verification failed for {key}: {stored} transfers, {calls} awarded"
        )


def row(name: str, r: dict) -> str:
    return (
        f"{name:<15} {r['rate']:>9.1f} {r['p50']:>7.2f} {r['p99']:>7.2f}"
        f" {fmt(r['client_ms'], 7)} {fmt(r['server_ms'], 7)} {r['calls']:>7}"
    )


def ratio(a: float | None, b: float | None) -> str:
    return "-" if not a or not b else f"{a / b:.2f}x"


# --- main -------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    began = time.perf_counter()
    args, version, sync = common.start("bench/fresh.py", parse_args, argv)
    from django.db import connection

    run_id = uuid.uuid4().hex[:8]
    common.print_setup(version, sync, name=args.database, live=True)
    print(f"created and migrated in {time.perf_counter() - began:.1f} s")
    try:
        autovacuum(enabled=False)
        members, registering = register(args.members, f"fresh-{run_id}")
        print(
            f"members: {len(members)} registered (p50 {statistics.median(registering) * 1000:.2f}"
            f" ms each, untimed)"
        )
        print(f"before: {statistics_state()}; autovacuum off on the hot tables")
        print(
            f"\naward at 1 worker, {args.duration:g} s per phase"
            " (client/server: CPU ms per award of the process and of its backend)\n"
            f"{'phase':<15} {'awards/s':>9} {'p50 ms':>7} {'p99 ms':>7}"
            f" {'client':>7} {'server':>7} {'awards':>7}"
        )
        before = phase("before", members, args.duration, args.local, run_id)
        print(row("before ANALYZE", before))
        autovacuum(enabled=True)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        after = phase("after", members, args.duration, args.local, run_id)
        print(row("after ANALYZE", after))
    except common.BenchFailed as failed:
        print(failed, file=sys.stderr)
        return 1
    print(f"after: {statistics_state()}")
    print(
        f"\nbefore/after ANALYZE: p50 {ratio(before['p50'], after['p50'])},"
        f" p99 {ratio(before['p99'], after['p99'])},"
        f" awards/s {ratio(after['rate'], before['rate'])} slower,"
        f" server CPU {ratio(before['server_ms'], after['server_ms'])}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
