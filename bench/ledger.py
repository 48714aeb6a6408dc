"""Benchmark the ledger's write path on PostgreSQL: single awards and award_many.

DATABASE_URL must name an existing PostgreSQL database; the script migrates it itself:

    psql -h 127.0.0.1 -U postgres -c 'create database concord_bench'
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/concord_bench \
        .venv/bin/python bench/ledger.py [--duration 4 | --count 4000] [--workers 1,4,8,16]

Phases, each timed from a barrier that releases every worker process at once:
  1. `ledger.actions.award` to members chosen uniformly, at each worker count;
  2. the same with 80% of awards going to 1% of the members (contended wallets);
  3. `ledger.actions.award_many` paying --batch members per call, each worker its own
     members (concurrent batches over the same wallets would only queue on their locks).
It ends by running the ledger integrity checks (`ledger.*`) and printing their result.

Each invocation registers fresh members first and then runs VACUUM (ANALYZE) on the
tables awards write (untimed; --no-vacuum skips it), so runs can repeat on the same
database and start as a server with autovacuum would. Besides awards/s and latency it
prints, per award (or per award_many call), the client CPU the worker processes spent,
the CPU their PostgreSQL backends spent (read from /proc when the server is on this
machine) and how busy the machine's cores were, and how much of that was anything else
(others%: other load on the machine, or PostgreSQL's background writers): where the
time goes, and whether a figure was taken on a quiet machine.

Exit 0: every phase verified and no integrity finding; 1: a worker failed, a phase's
transfers did not match what was reported, or a check found something; 2: bad arguments
or environment (one line on stderr).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import time
import traceback
import uuid

from common import (
    BenchFailed,
    Parser,
    Refused,
    ServerDown,
    fmt,
    positive,
    postgres_url,
    process_cpu,
    register_members,
    relay,
    run_workers,
    start,
    vacuum,
    worker_counts,
)
from raw import measure as measure_raw

TIMEOUT = 600  # seconds a phase may take before the benchmark gives up
HOT_SHARE = 0.8  # of awards go to
HOT_FRACTION = 0.01  # of the members
WARMUP_AWARDS = 300
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
TARGET_AWARDS, TARGET_P99_MS, TARGET_WORKERS = 1200, 25.0, 8
TARGET_POSTINGS = 20_000

# Set in the parent before forking; the workers inherit them.
MEMBERS: list = []
HOT: list = []
COLD: list = []


# --- arguments ------------------------------------------------------------------------


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or not 0.1 <= value <= 600:
        raise argparse.ArgumentTypeError(f"{text} must be between 0.1 and 600 seconds")
    return value


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = Parser(
        prog="bench/ledger.py",
        description=__doc__.split("\n", 1)[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--duration", type=seconds, help="seconds per phase (default 4; or give --count)"
    )
    size.add_argument(
        "--count",
        type=positive,
        help="awards per single-award phase; member postings per award_many phase",
    )
    parser.add_argument(
        "--workers", type=worker_counts, default="1,4,8,16", help="process counts (award)"
    )
    parser.add_argument(
        "--batch-workers",
        type=worker_counts,
        default="1,2",
        help="process counts (award_many)",
    )
    parser.add_argument("--members", type=positive, default=1000, help="members to pay")
    parser.add_argument("--batch", type=positive, default=500, help="members per award_many")
    parser.add_argument(
        "--no-verify", action="store_true", help="skip counting each phase's transfers"
    )
    parser.add_argument(
        "--no-vacuum", action="store_true", help="skip VACUUM (ANALYZE) before timing"
    )
    parser.add_argument(
        "--no-relay",
        action="store_true",
        help="run no manage.py run_relay (events wait in the log; the writers alone)",
    )
    args = parser.parse_args(argv)
    if args.count is None and args.duration is None:
        args.duration = 4.0
    if args.members < 100:
        raise Refused(f"--members {args.members}: at least 100 (1% of them are the hot ones)")
    if args.members > 100_000:
        raise Refused(f"--members {args.members}: at most 100000")
    if args.batch * max(args.batch_workers) > args.members:
        raise Refused(
            f"--batch {args.batch} x {max(args.batch_workers)} award_many workers needs "
            f"{args.batch * max(args.batch_workers)} members, --members is {args.members}"
        )
    if args.count is not None:
        if args.count < max(args.workers):
            raise Refused(f"--count {args.count} is fewer than {max(args.workers)} workers")
        if args.count < args.batch * max(args.batch_workers):
            raise Refused(
                f"--count {args.count} is fewer postings than one call of --batch "
                f"{args.batch} per award_many worker"
            )
    try:
        _url, args.local = postgres_url()
    except ValueError as error:
        raise Refused(str(error)) from None
    return args


# --- measuring ------------------------------------------------------------------------


# --- workers --------------------------------------------------------------------------


def worker(phase: dict, index: int, barrier, results) -> None:
    """Run this worker's share of `phase` after the start barrier; report or a traceback."""
    from django.db import connection, connections

    from ledger.actions import award, award_many

    try:
        with connection.cursor() as cursor:  # connect before the clock starts
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
        rng = random.Random(f"{phase['key']}:{index}")
        key = f"{phase['key']}:{index}:"
        mode, quota = phase["mode"], phase["shares"][index]
        if mode == "many":
            mine = MEMBERS[index * phase["batch"] : (index + 1) * phase["batch"]]
        server_before = process_cpu(backend) if phase["local"] else None
        barrier.wait(timeout=TIMEOUT)
        client_before = time.process_time()
        start = time.perf_counter()
        deadline = start + phase["duration"] if phase["duration"] else None
        latencies = []
        i = 0
        while (i < quota) if deadline is None else (time.perf_counter() < deadline):
            if mode == "many":
                amount = rng.randint(1, 100)
                began = time.perf_counter()
                award_many(
                    [(member, amount) for member in mine],
                    reason="bench event bonus",
                    idempotency_key=f"{key}{i}",
                )
            else:
                if mode == "hot" and rng.random() < HOT_SHARE:
                    member = rng.choice(HOT)
                else:
                    member = rng.choice(COLD if mode == "hot" else MEMBERS)
                amount = rng.randint(1, 100)
                began = time.perf_counter()
                award(member, amount, reason="bench award", idempotency_key=f"{key}{i}")
            latencies.append(time.perf_counter() - began)
            i += 1
        end = time.perf_counter()
        client = time.process_time() - client_before
        server_after = process_cpu(backend) if phase["local"] else None
        server = None if None in (server_before, server_after) else server_after - server_before
        results.put((index, (start, end, latencies, client, server), None))
    except BaseException:
        barrier.abort()
        results.put((index, None, traceback.format_exc()))
    finally:
        connections.close_all()


def run_phase(name: str, mode: str, workers: int, args, run_id: str) -> dict:
    """One phase over `workers` forked processes; measured and verified, else exit 1."""

    key = f"bench:{run_id}:{name}:{workers}"
    if args.count is None:
        shares = [0] * workers
    else:
        total = args.count if mode != "many" else -(-args.count // args.batch)
        shares = [total // workers + (w < total % workers) for w in range(workers)]
    phase = {
        "key": key,
        "mode": mode,
        "shares": shares,
        "duration": args.duration,
        "batch": args.batch,
        "local": args.local,
    }
    publisher_before = process_cpu(args.publisher)
    try:
        reports, _start, (busy, iowait, jiffies) = run_workers(
            worker,
            lambda w: (phase, w),
            workers,
            TIMEOUT,
            collect_timeout=TIMEOUT + (args.duration or 0),
        )
    except BenchFailed as failed:
        print(failed, file=sys.stderr)
        sys.exit(1)
    publisher_cpu = process_cpu(args.publisher)
    publisher_cpu = 0.0 if publisher_cpu is None else publisher_cpu - publisher_before
    latencies = [lat for report in reports for lat in report[2]]
    calls = len(latencies)
    wall = max(r[1] for r in reports) - min(r[0] for r in reports)
    servers = [r[4] for r in reports]
    q = statistics.quantiles(latencies, n=100, method="inclusive") if calls > 1 else [0] * 99
    stored = None if args.no_verify else verify(key, calls, args.batch if mode == "many" else 1)
    return {
        "calls": calls,
        "wall": wall,
        "rate": calls / wall,
        "p50": q[49] * 1000,
        "p99": q[98] * 1000,
        "client_ms": sum(r[3] for r in reports) / calls * 1000,
        "server_ms": None if None in servers else sum(servers) / calls * 1000,
        "publisher_ms": publisher_cpu / calls * 1000 if args.publisher else None,
        "busy": 100 * busy / jiffies if jiffies else 0.0,
        # CPU the machine spent on anything but these workers and their backends.
        "others": None
        if None in servers or not jiffies
        else max(
            0.0,
            100 * busy / jiffies
            - 100
            * (sum(r[3] for r in reports) + sum(servers) + publisher_cpu)
            / (jiffies / CLOCK_TICKS),
        ),
        "iowait": 100 * iowait / jiffies if jiffies else 0.0,
        "stored": stored,
    }


def verify(key: str, calls: int, postings_per_call: int) -> int:
    """The phase's transfers, and their member postings, are exactly what was reported."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(DISTINCT t.id), count(p.id) FILTER (WHERE p.version IS NOT NULL)"
            " FROM ledger_transfer t JOIN ledger_posting p ON p.transfer_id = t.id"
            " WHERE t.idempotency_key LIKE %s",
            [key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + ":%"],
        )
        transfers, postings = cursor.fetchone()
    if transfers != calls or postings != calls * postings_per_call:
        print(
            f"verification failed for {key}: {transfers} transfers with {postings} member "
            f"postings stored, {calls} transfers with {calls * postings_per_call} reported",
            file=sys.stderr,
        )
        sys.exit(1)
    return transfers


# --- setup ----------------------------------------------------------------------------


def warm_up(run_id: str) -> None:
    from ledger.actions import award

    rng = random.Random(run_id)
    for i in range(WARMUP_AWARDS):
        award(rng.choice(MEMBERS), 1, reason="bench warm-up", idempotency_key=f"warm:{run_id}:{i}")


def maintain(run: bool) -> str:
    """The tables awards write (without statistics the balance trigger's query scans
    every account)."""
    from accounts.models import Identity, Member
    from events.models import Event
    from ledger.models import Account, Posting, Transfer

    models = (Account, Posting, Transfer, Event, Member, Identity)
    return vacuum([m._meta.db_table for m in models], run)


def account_churn() -> str:
    from django.db import connection

    from ledger.models import Account

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n_live_tup, n_dead_tup, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"
            " WHERE relid = %s::regclass",
            [Account._meta.db_table],
        )
        live, dead, updates, hot = cursor.fetchone()
    return (
        f"{Account._meta.db_table}: {live} live, {dead} dead row versions;"
        f" {hot} of {updates} updates HOT (statistics may lag a second)"
    )


# --- integrity ------------------------------------------------------------------------


def integrity() -> int:
    """Run the `ledger.*` checks, print each; returns the number of findings (+ errors)."""
    import importlib.util

    from integrity.registry import all_checks
    from integrity.runner import run_checks

    names = [check.name for check in all_checks() if check.name.startswith("ledger.")]
    if importlib.util.find_spec("ledger.integrity") is None or not names:
        print(
            "integrity: ledger/integrity.py does not exist yet (no ledger.* checks); "
            "running the other registered checks"
        )
        names = [check.name for check in all_checks()]
        if not names:
            print("integrity: no checks registered")
            return 0
    else:
        print(f"integrity checks ({len(names)} ledger.*):")
    report = run_checks(names)
    for result in report.checks:
        line = f"  {result.status:<6} {result.name:<40} {result.violations:>6} found"
        line += f" {result.duration_ms:>9.1f} ms"
        if result.error:
            line += f"  {result.error}"
        elif result.sample:
            line += f"  e.g. {result.sample[:5]}"
        print(line)
    findings = sum(r.violations for r in report.checks)
    errors = sum(r.status == "error" for r in report.checks)
    print(
        f"integrity: {len(report.checks)} checks, {findings} findings, {errors} errors"
        f" -> {'OK' if report.ok else 'NOT OK'}"
    )
    return findings + errors


# --- main -----------------------------------------------------------------------------


def phases(args, run_id: str, hot_count: int) -> dict:
    """Every award and award_many phase, printed as each finishes."""
    header = (
        f"{'workers':>7} {'awards/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'client':>7}"
        f" {'server':>7} {'pub':>5} {'busy%':>6} {'others%':>7} {'iowait%':>7} {'awards':>8}"
    )
    figures: dict = {}
    for name, mode, title in (
        ("uniform", "uniform", "award, members chosen uniformly"),
        ("hot", "hot", f"award, {HOT_SHARE:.0%} of awards to {hot_count} members (1%)"),
    ):
        print(f"\n{title}\n{header}")
        for n in args.workers:
            r = run_phase(name, mode, n, args, run_id)
            figures[(name, n)] = r
            print(
                f"{n:>7} {r['rate']:>9.1f} {r['p50']:>7.2f} {r['p99']:>7.2f}"
                f" {fmt(r['client_ms'], 7)} {fmt(r['server_ms'], 7)}"
                f" {fmt(r['publisher_ms'], 5)} {r['busy']:>6.0f}"
                f" {fmt(r['others'], 7, 0)} {r['iowait']:>7.0f} {r['calls']:>8}"
            )

    print(
        f"\naward_many, {args.batch} members per call (each worker its own members)\n"
        f"{'workers':>7} {'postings/s':>10} {'calls/s':>8} {'p50 ms':>7} {'p99 ms':>7}"
        f" {'client':>7} {'server':>7} {'pub':>5} {'busy%':>6} {'others%':>7} {'iowait%':>7}"
        f" {'postings':>9}"
    )
    for n in args.batch_workers:
        r = run_phase("many", "many", n, args, run_id)
        figures[("many", n)] = r
        print(
            f"{n:>7} {r['rate'] * args.batch:>10.0f} {r['rate']:>8.1f} {r['p50']:>7.2f}"
            f" {r['p99']:>7.2f} {fmt(r['client_ms'], 7)} {fmt(r['server_ms'], 7)}"
            f" {fmt(r['publisher_ms'], 5)} {r['busy']:>6.0f} {fmt(r['others'], 7, 0)}"
            f" {r['iowait']:>7.0f} {r['calls'] * args.batch:>9}"
        )
    return figures


def main(argv: list[str]) -> int:
    started = start("bench/ledger.py", parse_args, argv)
    if started is None:
        return 2
    args, version, sync = started
    from django.conf import settings

    global MEMBERS, HOT, COLD
    run_id = uuid.uuid4().hex[:10]
    size = f"{args.duration:g} s" if args.count is None else f"{args.count} awards/postings"
    print(f"cores: {os.cpu_count()}  DEBUG: {settings.DEBUG}")
    print(f"database: {version.split(' on ')[0]}  synchronous_commit={sync}")
    began = time.perf_counter()
    try:
        MEMBERS = register_members(f"lbench-{run_id}", args.members, username="ledger")
    except BenchFailed as failed:
        print(failed, file=sys.stderr)
        return 1
    ranked = random.Random(run_id).sample(MEMBERS, len(MEMBERS))
    hot_count = max(1, round(len(MEMBERS) * HOT_FRACTION))
    HOT, COLD = ranked[:hot_count], ranked[hot_count:]
    warm_up(run_id)
    maintained = maintain(not args.no_vacuum)
    print(
        f"members: {len(MEMBERS)} registered in {time.perf_counter() - began:.1f} s (untimed);"
        f" per phase: {size}"
    )
    print(maintained)
    print(
        "cpu ms/op: client = the worker processes, server = their PostgreSQL backends;"
        " pub = the relay (run_relay); busy/iowait = % of all cores; others = busy with anything"
        " else (other load)"
    )

    try:
        with relay(not args.no_relay) as args.publisher:
            print(f"relay: {'run_relay' if args.publisher else 'none'}")
            figures = phases(args, run_id, hot_count)
    except ServerDown as failed:
        print(failed, file=sys.stderr)
        return 1
    print("(postings/s counts member postings; each call also posts one issuance leg)")
    print(account_churn() + "\n")
    raw = measure_raw(TARGET_WORKERS, args.duration or 4.0, len(MEMBERS))
    print(
        f"raw psycopg lock+insert+update at {TARGET_WORKERS} workers (bench/raw.py):"
        f" {raw['rate']:.1f} tx/s, p50 {raw['p50']:.2f} ms, p99 {raw['p99']:.2f} ms"
    )

    problems = integrity()

    print("\ntargets:")
    target = figures.get(("uniform", TARGET_WORKERS))
    if target:
        met = target["rate"] >= TARGET_AWARDS and target["p99"] < TARGET_P99_MS
        print(
            f"  award at {TARGET_WORKERS} workers: {target['rate']:.0f}/s (>= {TARGET_AWARDS}),"
            f" p99 {target['p99']:.1f} ms (< {TARGET_P99_MS:g}) -> {'met' if met else 'MISSED'}"
        )
        ratio = target["rate"] / raw["rate"] if raw["rate"] else 0.0
        print(
            f"  award / raw psycopg at {TARGET_WORKERS} workers: {ratio:.2f} (>= 0.6)"
            f" -> {'met' if ratio >= 0.6 else 'MISSED'}"
        )
    else:
        print(f"  award at {TARGET_WORKERS} workers: not measured (--workers)")
    best = max(figures[("many", n)]["rate"] * args.batch for n in args.batch_workers)
    print(
        f"  award_many: {best:.0f} postings/s (>= {TARGET_POSTINGS})"
        f" -> {'met' if best >= TARGET_POSTINGS else 'MISSED'}"
    )
    print(f"  integrity: {problems} findings -> {'met' if not problems else 'MISSED'}")
    busiest = max((r["others"] or 0.0 for r in figures.values()), default=0.0)
    if busiest > 10:
        print(
            f"note: other work used up to {busiest:.0f}% of the cores during a phase (others%);"
            " those figures understate what this machine does for the ledger alone"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
