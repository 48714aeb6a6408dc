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
import random
import sys
import time
import uuid

import common
from raw import measure as measure_raw
from timing import (
    BackendCpu,
    Report,
    checks_named,
    fmt,
    note_others,
    print_checks,
    time_workers,
    verdict,
)

from config import processes

TIMEOUT = 600  # seconds a phase may take before the benchmark gives up
HOT_SHARE = 0.8  # of awards go to
HOT_FRACTION = 0.01  # of the members
WARMUP_AWARDS = 300
TARGET_AWARDS, TARGET_P99_MS, TARGET_WORKERS = 1200, 25.0, 8
TARGET_POSTINGS = 20_000

# Set in the parent before forking; the workers inherit them.
MEMBERS: list = []
HOT: list = []
COLD: list = []


# --- arguments ------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = common.bench_parser("bench/ledger.py", __doc__)
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--duration",
        type=common.bounded(0.1, 600, "seconds", called="a number of seconds"),
        help="seconds per phase (default 4; or give --count)",
    )
    size.add_argument(
        "--count",
        type=common.positive,
        help="awards per single-award phase; member postings per award_many phase",
    )
    parser.add_argument(
        "--workers", type=common.worker_counts, default="1,4,8,16", help="process counts (award)"
    )
    parser.add_argument(
        "--batch-workers",
        type=common.worker_counts,
        default="1,2",
        help="process counts (award_many)",
    )
    parser.add_argument("--members", type=common.positive, default=1000, help="members to pay")
    parser.add_argument("--batch", type=common.positive, default=500, help="members per award_many")
    parser.add_argument(
        "--no-verify", action="store_true", help="skip counting each phase's transfers"
    )
    common.add_upkeep_options(parser)
    args = parser.parse_args(argv)
    if args.count is None and args.duration is None:
        args.duration = 4.0
    if args.members < 100:
        raise common.Refused(
            f"--members {args.members}: at least 100 (1% of them are the hot ones)"
        )
    common.at_most("--members", args.members, 100_000)
    if args.batch * max(args.batch_workers) > args.members:
        raise common.Refused(
            f"--batch {args.batch} x {max(args.batch_workers)} award_many workers needs "
            f"{args.batch * max(args.batch_workers)} members, --members is {args.members}"
        )
    if args.count is not None:
        if args.count < max(args.workers):
            raise common.Refused(f"--count {args.count} is fewer than {max(args.workers)} workers")
        if args.count < args.batch * max(args.batch_workers):
            raise common.Refused(
                f"--count {args.count} is fewer postings than one call of --batch "
                f"{args.batch} per award_many worker"
            )
    _url, args.local = common.postgres_url()
    return args


# --- workers --------------------------------------------------------------------------


def worker(phase: dict, index: int, barrier) -> Report:
    """This worker's share of `phase`, after the start barrier."""
    from ledger.actions import award, award_many

    cpu = BackendCpu(phase["local"])
    rng = random.Random(f"{phase['key']}:{index}")
    key = f"{phase['key']}:{index}:"
    mode, quota = phase["mode"], phase["shares"][index]
    if mode == "many":
        mine = MEMBERS[index * phase["batch"] : (index + 1) * phase["batch"]]
    barrier.wait(timeout=TIMEOUT)
    cpu.start()
    started = time.perf_counter()
    deadline = started + phase["duration"] if phase["duration"] else None
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
    client, server = cpu.used()
    return Report(started, end, latencies, client, server)


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
    try:
        r = time_workers(
            worker,
            lambda w: (phase, w),
            workers,
            TIMEOUT,
            relay=args.publisher,
            collect_timeout=TIMEOUT + (args.duration or 0),
        )
    except common.BenchFailed as failed:
        print(failed, file=sys.stderr)
        sys.exit(1)
    r["stored"] = (
        None if args.no_verify else verify(key, r["calls"], args.batch if mode == "many" else 1)
    )
    return r


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

    from integrity.runner import run_checks

    names = checks_named("ledger.")
    if importlib.util.find_spec("ledger.integrity") is None or not names:
        print(
            "integrity: ledger/integrity.py does not exist yet (no ledger.* checks); "
            "running the other registered checks"
        )
        names = checks_named("")
        if not names:
            print("integrity: no checks registered")
            return 0
    else:
        print(f"integrity checks ({len(names)} ledger.*):")
    return print_checks(run_checks(names), say_ok=True)


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
    args, version, sync = common.start("bench/ledger.py", parse_args, argv)

    global MEMBERS, HOT, COLD
    run_id = uuid.uuid4().hex[:10]
    size = f"{args.duration:g} s" if args.count is None else f"{args.count} awards/postings"
    common.print_setup(version, sync)
    began = time.perf_counter()
    try:
        MEMBERS = common.register_members(f"lbench-{run_id}", args.members, username="ledger")
    except common.BenchFailed as failed:
        print(failed, file=sys.stderr)
        return 1
    ranked = random.Random(run_id).sample(MEMBERS, len(MEMBERS))
    hot_count = max(1, round(len(MEMBERS) * HOT_FRACTION))
    HOT, COLD = ranked[:hot_count], ranked[hot_count:]
    warm_up(run_id)
    maintained = common.maintain(common.AWARD_TABLES, not args.no_vacuum)
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
        with common.relay(not args.no_relay) as args.publisher:
            print(f"relay: {'run_relay' if args.publisher else 'none'}")
            figures = phases(args, run_id, hot_count)
    except processes.ServerDown as failed:
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
            f" p99 {target['p99']:.1f} ms (< {TARGET_P99_MS:g}) -> {verdict(met)}"
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
        f" -> {verdict(best >= TARGET_POSTINGS)}"
    )
    print(f"  integrity: {problems} findings -> {verdict(not problems)}")
    note_others(figures.values(), "a phase", "the ledger")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
