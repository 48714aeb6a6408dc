"""Benchmark `accounts.actions.register_member` from 1, 4 and 8 concurrent OS processes.

DATABASE_URL must name an existing PostgreSQL database; the script migrates it itself:

    psql -h 127.0.0.1 -U postgres -c 'create database concord_bench'
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/concord_bench \
        .venv/bin/python bench/registrations.py [--count 4000] [--workers 1,4,8]

Every run registers fresh identities (half of them with an email), so runs can repeat on
the same database. Any failure in a worker, or a member count that does not match the
number requested, stops the benchmark with a non-zero exit.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time
import traceback
import uuid
from urllib.parse import urlsplit

import common

TIMEOUT = 600  # seconds a run may take before the benchmark gives up


def worker(run_id: str, index: int, count: int, barrier, results) -> None:
    """Register `count` identities after the start barrier; report latencies or a traceback."""
    from django.db import connection, connections

    from accounts.actions import register_member

    try:
        connection.ensure_connection()  # connect before the clock starts
        barrier.wait(timeout=TIMEOUT)
        latencies = []
        for i in range(count):
            email = f"b{run_id}.{index}.{i}@example.org" if i % 2 == 0 else None
            start = time.perf_counter()
            registration = register_member(
                platform="web",
                external_id=f"bench-{run_id}-{index}-{i}",
                username=f"bench {index}.{i}",
                email=email,
            )
            latencies.append(time.perf_counter() - start)
            if not registration.created:
                raise RuntimeError(f"identity {index}.{i} was not new: nothing was created")
        results.put((index, latencies, None))
    except BaseException:
        barrier.abort()
        results.put((index, None, traceback.format_exc()))
    finally:
        connections.close_all()


def run(workers: int, count: int) -> tuple[float, list[float], int]:
    """One run: `count` registrations over `workers` processes; verified, else exit."""

    run_id = uuid.uuid4().hex[:12]
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(workers + 1)
    results = ctx.Queue()
    shares = [count // workers + (w < count % workers) for w in range(workers)]
    common.before_fork()
    procs = [
        ctx.Process(target=worker, args=(run_id, w, shares[w], barrier, results))
        for w in range(workers)
    ]
    for proc in procs:
        proc.start()
    latencies: list[float] = []
    errors: list[str] = []
    try:
        barrier.wait(timeout=TIMEOUT)
    except Exception:
        errors.append("start barrier broken (a worker failed before starting)")
    start = time.perf_counter()
    for _ in procs:
        _index, got, error = results.get(timeout=TIMEOUT)
        if error:
            errors.append(error)
        else:
            latencies.extend(got)
    wall = time.perf_counter() - start
    for proc in procs:
        proc.join(timeout=TIMEOUT)
        if proc.exitcode != 0:
            errors.append(f"worker pid {proc.pid} exited with code {proc.exitcode}")
    if errors:
        sys.exit("benchmark failed:\n" + "\n".join(errors))
    return wall, latencies, verify(run_id, count, sum((s + 1) // 2 for s in shares))


def verify(run_id: str, count: int, expected_email: int) -> int:
    from accounts.models import Member

    members = Member.objects.filter(identities__external_id__startswith=f"bench-{run_id}-")
    created = members.count()
    with_email = members.filter(email_normalized__isnull=False).count()
    if created != count or with_email != expected_email:
        sys.exit(
            f"verification failed: {created} members ({with_email} with email) created, "
            f"{count} ({expected_email} with email) requested"
        )
    return created


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--count", type=common.positive, default=4000, help="registrations per run")
    parser.add_argument(
        "--workers",
        type=common.worker_counts,
        default="1,4,8",
        help="comma-separated process counts",
    )
    parser.add_argument("--allow-sqlite", action="store_true", help="allow a non-PostgreSQL DB")
    args = parser.parse_args()
    workers = args.workers
    url = os.environ.get("DATABASE_URL", "").strip()
    if urlsplit(url).scheme not in {"postgres", "postgresql", "pgsql"} and not args.allow_sqlite:
        print(
            f"refusing to run: DATABASE_URL={url or '(unset)'} is not a PostgreSQL URL "
            "(set postgres://... or pass --allow-sqlite)",
            file=sys.stderr,
        )
        sys.exit(2)

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    query = "select version()" if connection.vendor == "postgresql" else "select sqlite_version()"
    with connection.cursor() as cursor:
        cursor.execute(query)
        version = cursor.fetchone()[0]
    print(f"cores: {os.cpu_count()}  DEBUG: {settings.DEBUG}")
    print(f"database: {connection.vendor} {version}")
    print(f"registrations per run: {args.count}")
    print(f"{'workers':>7} {'reg/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'verified':>16}")
    for n in workers:
        wall, latencies, created = run(n, args.count)
        q = statistics.quantiles(latencies, n=100, method="inclusive")
        print(
            f"{n:>7} {args.count / wall:>9.1f} {q[49] * 1000:>8.2f} {q[98] * 1000:>8.2f} "
            f"{f'{created}/{args.count} members':>16}"
        )


if __name__ == "__main__":
    main()
