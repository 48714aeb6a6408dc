"""Benchmark tournaments on PostgreSQL: a registration rush, and a 10,000-row import.

DATABASE_URL must name an existing PostgreSQL database; the script migrates it itself:

    psql -h 127.0.0.1 -U postgres -c 'create database concord_bench'
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/concord_bench \
        .venv/bin/python bench/tournaments.py [--players 500] [--capacity 256] [--fee 10]
            [--workers 8] [--rounds 3] [--rows 10000]

1. The rush: --players members (registered first, untimed) all call
   `tournaments.actions.register` for one new tournament at once, from --workers forked
   processes released by one barrier, each taking every n-th player (so the arrival order
   interleaves). The first --capacity get a slot and pay the entry fee (a ledger
   transfer each), the rest are waitlisted. Repeated --rounds times, each with a new
   tournament and the same players. Verified after each round: exactly min(players,
   capacity) registered, each with its fee transfer, the rest waitlisted at 1..n.
2. The import: `manage.py import_registrations --skip-invalid` of a generated --rows-row
   sheet into a new tournament (capacity 1,024), timed end to end (dry run first, also
   timed). The sheet is what an organiser's export looks like: 60% players Concord knows
   (two thirds found by identity, a third by email under another identity), 30% new
   people, 5% rows repeating an earlier one, 5% bad rows (unknown platform, blank id,
   malformed email).
It ends with the tournaments integrity checks.

Exit 0: every round verified, the import as expected and no integrity finding; 1: a
worker failed, a verification failed or a check found something; 2: bad arguments or
environment (one line on stderr).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import tempfile
import time
import uuid

import common
from timing import (
    BackendCpu,
    Report,
    checks_named,
    fmt,
    median_target,
    note_others,
    print_checks,
    time_workers,
    verdict,
)

from config import processes

TIMEOUT = 600
TARGET_RATE, TARGET_WORKERS, TARGET_IMPORT_SECONDS = 400, 8, 10.0
IMPORT_CAPACITY = 1024
TABLES = (  # what the rush and the import write
    "accounts.Member",
    "accounts.Identity",
    "ledger.Account",
    "ledger.Transfer",
    "ledger.Posting",
    "events.Event",
    "tournaments.Tournament",
    "tournaments.Registration",
)

# Set in the parent before forking; the workers inherit them.
PLAYERS: list[int] = []


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = common.bench_parser("bench/tournaments.py", __doc__)
    parser.add_argument("--players", type=common.positive, default=500, help="players in the rush")
    parser.add_argument("--capacity", type=common.positive, default=256, help="slots in the rush")
    parser.add_argument("--fee", type=int, default=10, help="entry fee in points (0: free)")
    parser.add_argument("--workers", type=common.positive, default=TARGET_WORKERS, help="processes")
    parser.add_argument("--rounds", type=common.positive, default=3, help="rushes, each a new cup")
    parser.add_argument("--rows", type=int, default=10_000, help="import rows (0: no import)")
    parser.add_argument(
        "--new-share",
        type=float,
        default=0.15,
        help="share of import rows naming people Concord does not know yet (default 0.15)",
    )
    common.add_upkeep_options(parser)
    args = parser.parse_args(argv)
    common.check_workers(args.workers, args.players, "--players")
    if args.capacity < 2:
        raise common.Refused(f"--capacity {args.capacity}: at least 2")
    if not 0 <= args.fee <= 100 // args.rounds:
        raise common.Refused(
            f"--fee {args.fee}: from 0 to {100 // args.rounds} (players have the 100-point"
            f" welcome bonus to pay {args.rounds} rounds with)"
        )
    if not 0 <= args.new_share <= 0.9:
        raise common.Refused(f"--new-share {args.new_share}: from 0 to 0.9")
    if args.rows and not 100 <= args.rows <= 200_000:
        raise common.Refused(f"--rows {args.rows}: 0, or from 100 to 200000")
    _url, args.local = common.postgres_url()
    return args


# --- the rush -------------------------------------------------------------------------


def worker(tournament_id: int, index: int, workers: int, local: bool, barrier) -> Report:
    """Register this worker's players (every n-th) for the cup, after the start barrier."""
    from config.db import Ref
    from tournaments.actions import register

    cpu = BackendCpu(local)
    mine = PLAYERS[index::workers]
    barrier.wait(timeout=TIMEOUT)
    cpu.start()
    latencies = []
    for member_id in mine:
        began = time.perf_counter()
        registration = register(Ref(tournament_id), Ref(member_id))
        latencies.append(time.perf_counter() - began)
        if not registration.created:
            raise RuntimeError(f"member {member_id} was registered already")
    end = time.perf_counter()
    client, server = cpu.used()
    return Report(None, end, latencies, client, server)


def new_tournament(name: str, capacity: int, fee: int, waitlist_limit=None):
    from datetime import timedelta

    from django.utils import timezone

    from tournaments.actions import create_tournament, open_registration

    now = timezone.now()
    tournament = create_tournament(
        name=name,
        game="bench",
        entry_fee=fee,
        capacity=capacity,
        waitlist_limit=waitlist_limit,
        registration_opens_at=now - timedelta(minutes=1),
        registration_closes_at=now + timedelta(hours=2),
        check_in_opens_at=now + timedelta(hours=3),
        check_in_closes_at=now + timedelta(hours=4),
        prize_table={"1": 100},
    )
    open_registration(tournament)
    return tournament


def rush(args, run_id: str, round_: int, publisher: int | None) -> dict:
    tournament = new_tournament(f"Rush {run_id}/{round_}", args.capacity, args.fee)
    try:
        r = time_workers(
            worker,
            lambda w: (tournament.pk, w, args.workers, args.local),
            args.workers,
            TIMEOUT,
            relay=publisher,
        )
    except common.BenchFailed as failed:
        print(failed, file=sys.stderr)
        sys.exit(1)
    verify_rush(tournament.pk, args)
    return {"tournament": tournament.pk, **r}


def verify_rush(tournament_id: int, args) -> None:
    from tournaments.actions import fee_key
    from tournaments.models import Registration, Tournament

    seated = min(args.players, args.capacity)
    tournament = Tournament.objects.get(pk=tournament_id)
    rows = Registration.objects.filter(tournament_id=tournament_id)
    registered = rows.filter(status="registered")
    positions = sorted(rows.filter(status="waitlisted").values_list("waitlist_position", flat=True))
    paid = registered.exclude(fee_transfer=None).count()
    keys_ok = all(
        key == fee_key(tournament_id, pk)
        for pk, key in registered.values_list("pk", "fee_transfer__idempotency_key")
        if key is not None
    )
    problems = []
    if (registered.count(), tournament.active_count) != (seated, seated):
        problems.append(f"{registered.count()} registered (counter {tournament.active_count})")
    if positions != list(range(1, args.players - seated + 1)):
        problems.append(f"waitlist positions are not 1..{args.players - seated}")
    if args.fee and (paid != seated or not keys_ok):
        problems.append(f"{paid} of {seated} slots have their fee transfer")
    if problems:
        print(
            f"verification failed for tournament {tournament_id}: " + "; ".join(problems),
            file=sys.stderr,
        )
        sys.exit(1)


# --- setup ----------------------------------------------------------------------------


def register_members(prefix: str, count: int, *, emails: bool = False) -> list[int]:
    """`count` fresh members' ids (wallets opened, welcome bonus paid)."""
    try:
        members = common.register_members(
            prefix, count, username="player", emails=emails, timeout=TIMEOUT
        )
    except common.BenchFailed as failed:
        print(failed, file=sys.stderr)
        sys.exit(1)
    return [member.pk for member in members]


# --- the import -----------------------------------------------------------------------


def write_sheet(
    path: str, run_id: str, rows: int, known: list[tuple[str, str]], new_share: float
) -> dict:
    """The organisers' sheet: 5% rows repeating an earlier row, 5% bad rows, `new_share`
    people Concord does not know, and the rest members it knows, two thirds of them named
    by their identity and a third by their email under another identity. `known` is
    (external id, email) of members Concord has (platform web)."""
    rng = random.Random(run_id)
    written: list[list[str]] = []
    mix = {"identity": 0, "email": 0, "new": 0, "repeat": 0, "bad": 0}
    known_share = 0.9 - new_share
    for n in range(rows):
        roll = rng.random()
        if roll < 0.05 and written:
            mix["repeat"] += 1
            row = list(rng.choice(written))
        elif roll < 0.10:
            mix["bad"] += 1
            row = rng.choice(
                [
                    ["myspace", f"x{n}", f"bad {n}", ""],
                    ["telegram", "   ", f"blank {n}", ""],
                    ["web", f"d-{run_id}-{n}", f"mail {n}", f"not-an-email-{n}"],
                ]
            )
        elif roll < 0.10 + known_share * 2 / 3 and known:
            external_id, email = known.pop()
            mix["identity"] += 1
            row = ["web", external_id, f"known {n}", ""]
        elif roll < 0.10 + known_share and known:
            _external_id, email = known.pop()
            mix["email"] += 1
            row = ["web", f"d-{run_id}-{n}", f"by mail {n}", email.upper()]
        else:
            mix["new"] += 1
            row = ["web", f"t-{run_id}-{n}", f"new {n}", f"new.{run_id}.{n}@example.org"]
        written.append(row)
    with open(path, "w", newline="") as sheet:
        out = csv.writer(sheet)
        out.writerow(["Platform", "External ID", "Username", "Email"])
        out.writerows(written)
    return mix


def run_import(args, run_id: str) -> dict:
    from io import StringIO

    from django.core.management import call_command

    known_count = int(args.rows * (0.92 - args.new_share))
    prefix = f"ibench-{run_id}"
    began = time.perf_counter()
    members = register_members(prefix, known_count, emails=True)
    setup = time.perf_counter() - began
    known = [(f"{prefix}-{i}", f"{prefix}.{i}@example.org") for i in range(known_count)]
    random.Random(run_id).shuffle(known)
    tournament = new_tournament(f"Import {run_id}", IMPORT_CAPACITY, args.fee or 10)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "sheet.csv")
        mix = write_sheet(path, run_id, args.rows, known, args.new_share)
        common.maintain(TABLES, not args.no_vacuum)
        timings, stages = {}, {}
        for label, options in (("dry run", ["--dry-run"]), ("import", [])):
            out = StringIO()
            began = time.perf_counter()
            try:
                call_command(
                    "import_registrations",
                    str(tournament.pk),
                    path,
                    "--skip-invalid",
                    *options,
                    verbosity=2,
                    stdout=out,
                    stderr=out,
                )
            except SystemExit as exit_:
                if exit_.code:
                    print(out.getvalue(), file=sys.stderr)
                    print(f"import failed ({label}): exit {exit_.code}", file=sys.stderr)
                    sys.exit(1)
            timings[label] = time.perf_counter() - began
            stages[label] = next(
                (
                    line[len("stages: ") :]
                    for line in out.getvalue().splitlines()
                    if line.startswith("stages: ")
                ),
                "",
            )
    from tournaments.models import Registration

    rows = Registration.objects.filter(tournament=tournament)
    return {
        "members": len(members),
        "setup": setup,
        "mix": mix,
        "dry": timings["dry run"],
        "seconds": timings["import"],
        "stages": stages["import"],
        "registered": rows.filter(status="registered").count(),
        "waitlisted": rows.filter(status="waitlisted").count(),
    }


# --- integrity ------------------------------------------------------------------------


def integrity() -> int:
    from integrity.runner import run_checks

    return print_checks(run_checks(checks_named("tournaments.")))


# --- main -----------------------------------------------------------------------------


def measure(args, run_id: str, publisher: int | None) -> tuple[list[dict], dict | None]:
    """The rushes, then the import; printed as they finish."""
    figures = []
    for round_ in range(1, args.rounds + 1):
        r = rush(args, run_id, round_, publisher)
        figures.append(r)
        print(
            f"{round_:>5} {r['tournament']:>5} {r['rate']:>8.1f} {r['p50']:>7.2f}"
            f" {r['p99']:>7.2f} {fmt(r['client_ms'], 7)} {fmt(r['server_ms'], 7)}"
            f" {fmt(r['publisher_ms'], 5)} {r['busy']:>6.0f} {fmt(r['others'], 7, 0)}"
            f" {r['wall']:>7.2f}"
        )
    print(
        "(cpu ms per registration: client = the worker processes, server = their backends,"
        f" pub = the relay ({'not run' if publisher is None else 'run_relay'});"
        " busy = % of all cores; others = busy with anything else, e.g. other load)"
    )

    imported = None
    if args.rows:
        print(f"\nimport: {args.rows} rows into a new cup ({IMPORT_CAPACITY} slots)")
        imported = run_import(args, run_id)
        mix = imported["mix"]
        print(
            f"  sheet: {mix['identity']} known by identity, {mix['email']} by email,"
            f" {mix['new']} new, {mix['repeat']} repeated rows, {mix['bad']} bad rows"
            f" ({imported['members']} members registered first in {imported['setup']:.1f} s)"
        )
        print(
            f"  dry run {imported['dry']:.2f} s; import {imported['seconds']:.2f} s"
            f" ({args.rows / imported['seconds']:.0f} rows/s): {imported['registered']}"
            f" registered, {imported['waitlisted']} waitlisted"
        )
        print(f"  import stages: {imported['stages']} (members: new people registered)")

    return figures, imported


def main(argv: list[str]) -> int:
    args, version, sync = common.start("bench/tournaments.py", parse_args, argv)

    global PLAYERS
    run_id = uuid.uuid4().hex[:8]
    common.print_setup(version, sync, workers=args.workers)
    began = time.perf_counter()
    PLAYERS = register_members(f"tbench-{run_id}", args.players)
    print(f"players: {len(PLAYERS)} registered in {time.perf_counter() - began:.1f} s (untimed)")
    print(common.maintain(TABLES, not args.no_vacuum))
    print(
        f"\nrush: {args.players} players, {args.capacity} slots, entry fee {args.fee} points"
        f" ({min(args.players, args.capacity)} pay, the rest are waitlisted)"
    )
    print(
        f"{'round':>5} {'cup':>5} {'reg/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'client':>7}"
        f" {'server':>7} {'pub':>5} {'busy%':>6} {'others%':>7} {'wall s':>7}"
    )
    try:
        with common.relay(not args.no_relay) as publisher:
            figures, imported = measure(args, run_id, publisher)
    except processes.ServerDown as failed:
        print(failed, file=sys.stderr)
        return 1

    print()
    problems = integrity()
    print("\ntargets:")
    print(median_target("registrations", args.workers, figures, TARGET_RATE))
    if imported:
        met = imported["seconds"] < TARGET_IMPORT_SECONDS
        print(
            f"  import of {args.rows} rows: {imported['seconds']:.1f} s"
            f" (< {TARGET_IMPORT_SECONDS:g}) -> {verdict(met)}"
        )
    print(f"  integrity: {problems} findings -> {verdict(not problems)}")
    note_others(figures, "a rush", "tournaments")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
