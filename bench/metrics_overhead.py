"""What /metrics' instruments cost the award path: awards/s with and without them, in
the same run (rounds alternate, so the VM's drift hits both alike).

"Without" removes the statement timer (`ops.timing`, the only instrument an award
passes through: the ledger's own statement runs on a raw cursor, but Django's
statements around it, savepoints and lookups, are timed) from the connection; "with"
puts it back. One process, awards in sequence to members chosen uniformly. With
PROMETHEUS_MULTIPROC_DIR set the instruments write to their files (mmap) as in
production.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/concord_bench \\
        .venv/bin/python bench/metrics_overhead.py [--rounds 6] [--awards 1000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid

import common


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = common.bench_parser("metrics_overhead.py", __doc__)
    parser.add_argument("--rounds", type=common.positive, default=6)
    parser.add_argument("--awards", type=common.positive, default=1000)
    parser.add_argument("--members", type=common.positive, default=500)
    return parser.parse_args(argv)


def awards_per_second(members: list, count: int, tag: str) -> tuple[float, int]:
    from ledger.actions import award

    before = _observations()
    started = time.perf_counter()
    for i in range(count):
        award(
            random.choice(members),
            1,
            currency="points",
            reason="bench",
            idempotency_key=f"{tag}-{i}",
        )
    return count / (time.perf_counter() - started), _observations() - before


def reads_per_second(members: list, count: int) -> float:
    """Plain ORM reads (one statement each, through Django's wrappers)."""
    from accounts.models import Member

    started = time.perf_counter()
    for i in range(count):
        Member.objects.filter(pk=members[i % len(members)].pk).exists()
    return count / (time.perf_counter() - started)


def _observations() -> int:
    from ops.metrics import DB_QUERY_SECONDS

    return int(
        sum(
            s.value
            for m in DB_QUERY_SECONDS.collect()
            for s in m.samples
            if s.name.endswith("_count")
        )
    )


def main(argv: list[str]) -> int:
    args, version, sync = common.start("metrics_overhead.py", parse_args, argv)
    from django.db import connection

    from ops.timing import _timer

    common.print_setup(version, sync, workers=1, name="metrics overhead on awards")
    run = uuid.uuid4().hex[:8]
    members = common.register_members(f"mo-{run}", args.members, username="Bench")
    connection.ensure_connection()
    results: dict[str, list[float]] = {"with": [], "without": []}
    observed = {"with": 0, "without": 0}
    for n in range(args.rounds):
        for mode in ("with", "without") if n % 2 == 0 else ("without", "with"):
            _timed(connection, _timer, on=mode == "with")
            rate, seen = awards_per_second(members, args.awards, f"mo-{run}-{n}-{mode}")
            results[mode].append(rate)
            observed[mode] += seen
    total = args.rounds * args.awards
    for mode in ("with", "without"):
        rates = results[mode]
        print(
            f"{mode:>8} metrics: median {statistics.median(rates):7.0f} awards/s"
            f"  (rounds: {', '.join(f'{r:.0f}' for r in rates)});"
            f" timed statements per award {observed[mode] / total:.2f}"
        )
    with_, without = statistics.median(results["with"]), statistics.median(results["without"])
    print(f"overhead: {(without - with_) / without * 100:+.1f}% awards/s")
    reads: dict[str, list[float]] = {"with": [], "without": []}
    for n in range(args.rounds):
        for mode in ("with", "without") if n % 2 == 0 else ("without", "with"):
            _timed(connection, _timer, on=mode == "with")
            reads[mode].append(reads_per_second(members, args.awards))
    _timed(connection, _timer, on=True)
    per = {mode: 1e6 / statistics.median(rates) for mode, rates in reads.items()}
    print(
        f"ORM reads: {per['with']:.0f} us with the statement timer,"
        f" {per['without']:.0f} us without ({per['with'] - per['without']:+.1f} us a statement)"
    )
    return 0


def _timed(connection, timer, *, on: bool) -> None:
    wrappers = connection.execute_wrappers
    if not on and timer in wrappers:
        wrappers.remove(timer)
    elif on and timer not in wrappers:
        wrappers.append(timer)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
