"""Benchmark story decisions on PostgreSQL: `narrative.actions.make_choice` at 8 workers.

DATABASE_URL must name an existing PostgreSQL database; the script migrates it itself:

    psql -h 127.0.0.1 -U postgres -c 'create database concord_bench'
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/concord_bench \
        .venv/bin/python bench/narrative.py [--readers 1500] [--workers 8] [--rounds 3]

Each round registers --readers new members (VIP, so no chapter is locked to them; untimed)
and starts each one on the demo story (`narrative.demo`, six chapters, branches, five
endings). Then --workers forked processes, released by one barrier, play every reader
through to an ending: worker w takes readers w, w + n, ...; in turn each of its readers
makes one choice (picked by a seeded random among their current chapter's choices),
until all have ended. Every decision is one `make_choice` transaction: the decision,
progress, relationships, the reward transfer and the event. Verified after each round:
every reader ended the story, one decision per chapter played, one reward transfer per
rewarded decision; the narrative integrity checks run at the end.

Exit 0: verified and no integrity finding; 1: a worker or a verification failed, or a
check found something; 2: bad arguments or environment (one line on stderr).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid

import common
from timing import (
    BackendCpu,
    Report,
    checks_named,
    findings,
    fmt,
    median_target,
    time_workers,
    verdict,
)

from config import processes

TIMEOUT = 600
TARGET_RATE, TARGET_WORKERS = 600, 8

READERS: list[int] = []  # set in the parent before forking; the workers inherit it


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = common.bench_parser("bench/narrative.py", __doc__)
    parser.add_argument("--readers", type=common.positive, default=1500, help="members per round")
    parser.add_argument("--workers", type=common.positive, default=TARGET_WORKERS, help="processes")
    parser.add_argument(
        "--rounds", type=common.positive, default=3, help="rounds, new readers each"
    )
    common.add_upkeep_options(parser)
    args = parser.parse_args(argv)
    common.check_workers(args.workers, args.readers, "--readers")
    _url, args.local = common.postgres_url()
    return args


def worker(story_id: int, index: int, workers: int, local: bool, seed: int, barrier) -> Report:
    """Play this worker's readers (every n-th) to an ending, after the start barrier."""
    from config.db import Ref
    from narrative.actions import make_choice
    from narrative.models import Choice

    by_chapter: dict[int, list[tuple[int, int | None]]] = {}
    first = None
    for pk, chapter_id, number, next_id in Choice.objects.filter(
        chapter__story_id=story_id
    ).values_list("pk", "chapter_id", "chapter__number", "next_chapter_id"):
        by_chapter.setdefault(chapter_id, []).append((pk, next_id))
        first = chapter_id if number == 1 else first
    rng = random.Random(seed * 1000 + index)
    cpu = BackendCpu(local)
    playing = dict.fromkeys(READERS[index::workers], first)
    barrier.wait(timeout=TIMEOUT)
    cpu.start()
    latencies = []
    while playing:
        for member_id in list(playing):
            choice_id, next_id = rng.choice(by_chapter[playing[member_id]])
            began = time.perf_counter()
            decision = make_choice(Ref(member_id), Ref(choice_id))
            latencies.append(time.perf_counter() - began)
            if not decision.created:
                raise RuntimeError(f"member {member_id} had decided chapter already")
            if next_id is None:
                del playing[member_id]
            else:
                playing[member_id] = next_id
    end = time.perf_counter()
    client, server = cpu.used()
    return Report(None, end, latencies, client, server)


def prepare(run_id: str, round_: int, count: int, story_id: int) -> list[int]:
    """`count` new VIP members (a premium subscription each), each at chapter 1 of the
    story (untimed)."""
    from accounts.actions import start_subscription
    from accounts.models import Member
    from config.db import Ref
    from narrative.actions import start_story

    members = [
        m.pk
        for m in common.register_members(
            f"nbench-{run_id}-{round_}", count, username="reader", timeout=TIMEOUT
        )
    ]
    for member in Member.objects.filter(pk__in=members):  # VIP: premium now
        start_subscription(member, tier="premium")
    for member_id in members:
        start_story(Ref(member_id), Ref(story_id))
    return members


def play(args, story_id: int, seed: int, publisher: int | None) -> dict:
    return time_workers(
        worker,
        lambda w: (story_id, w, args.workers, args.local, seed),
        args.workers,
        TIMEOUT,
        relay=publisher,
    )


def verify(members: list[int], decisions: int) -> None:
    from django.db.models import Count, Q

    from narrative.models import Decision, Progress

    ended = Progress.objects.filter(member_id__in=members, status="ended").count()
    rows = Decision.objects.filter(member_id__in=members).aggregate(
        n=Count("pk"),
        rewarded=Count("pk", filter=Q(reward__gt=0)),
        paid=Count("reward_transfer", filter=Q(reward__gt=0)),
    )
    problems = []
    if ended != len(members):
        problems.append(f"{ended} of {len(members)} readers ended the story")
    if rows["n"] != decisions:
        problems.append(f"{rows['n']} decisions stored, {decisions} made")
    if rows["paid"] != rows["rewarded"]:
        problems.append(f"{rows['paid']} of {rows['rewarded']} rewards paid")
    if problems:
        raise common.BenchFailed("verification failed: " + "; ".join(problems))


def integrity() -> int:
    from integrity.runner import run_checks

    report = run_checks(checks_named("narrative."))
    for result in report.checks:
        print(
            f"  {result.name}: {result.status} ({result.violations}, {result.duration_ms:.0f} ms)"
        )
    return findings(report)


def main(argv: list[str]) -> int:
    args, version, sync = common.start("bench/narrative.py", parse_args, argv)

    from narrative.demo import load_demo_story

    global READERS
    run_id = uuid.uuid4().hex[:8]
    common.print_setup(version, sync, workers=args.workers, live=True)
    story = load_demo_story()
    print(
        f"\n{'round':>5} {'readers':>7} {'decisions':>9} {'dec/s':>8} {'p50 ms':>7}"
        f" {'p99 ms':>7} {'client':>7} {'server':>7} {'pub':>5} {'busy%':>6} {'wall s':>7}"
    )
    figures = []
    try:
        with common.relay(not args.no_relay) as publisher:
            for round_ in range(1, args.rounds + 1):
                READERS = prepare(run_id, round_, args.readers, story.pk)
                note = common.maintain(("narrative", "ledger", "events"), not args.no_vacuum)
                r = play(args, story.pk, round_, publisher)
                verify(READERS, r["calls"])
                figures.append(r)
                print(
                    f"{round_:>5} {len(READERS):>7} {r['calls']:>9} {r['rate']:>8.1f}"
                    f" {r['p50']:>7.2f} {r['p99']:>7.2f} {fmt(r['client_ms'], 7)}"
                    f" {fmt(r['server_ms'], 7)} {fmt(r['publisher_ms'], 5)} {r['busy']:>6.0f}"
                    f" {r['wall']:>7.2f}"
                )
    except (common.BenchFailed, processes.ServerDown) as failed:
        print(failed, file=sys.stderr)
        return 1
    print(
        f"({note}; cpu ms per decision: client = workers, server = their backends,"
        f" pub = the relay, {'not run' if publisher is None else 'run_relay'})"
    )
    print("\nintegrity:")
    problems = integrity()
    print("\ntargets:")
    print(median_target("decisions", args.workers, figures, TARGET_RATE))
    print(f"  integrity: {problems} findings -> {verdict(not problems)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
