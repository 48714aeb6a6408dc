"""The floor an award is measured against: a raw psycopg transaction that locks an
account row, inserts a posting and updates the balance (prepared statements, no ORM, no
event, no cache), at N worker processes, on scratch tables of its own.

DATABASE_URL=postgres://... .venv/bin/python bench/raw.py --workers 8 --duration 4

bench/ledger.py runs it after its award phases and prints award/s over this (issue 15's
target: at least 0.6).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

import common
import timing

TABLES = ("bench_raw_posting", "bench_raw_account")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = common.Parser(prog="bench/raw.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=common.positive, default=8, help="processes (8)")
    parser.add_argument("--duration", type=float, default=4.0, help="seconds (4)")
    parser.add_argument("--accounts", type=common.positive, default=1000, help="rows (1000)")
    return parser.parse_args(argv)


def _connect():
    import psycopg
    from django.db import connection

    s = connection.settings_dict
    return psycopg.connect(
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
        user=s["USER"],
        password=s["PASSWORD"] or None,
        dbname=s["NAME"],
    )


def prepare(accounts: int) -> None:
    """Fresh scratch tables: `accounts` rows at balance 0, analyzed."""
    with _connect() as conn:
        for table in TABLES:
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute("CREATE TABLE bench_raw_account (id int PRIMARY KEY, balance bigint NOT NULL)")
        conn.execute(
            "CREATE TABLE bench_raw_posting (id bigserial PRIMARY KEY,"
            " account_id int NOT NULL REFERENCES bench_raw_account, amount bigint NOT NULL)"
        )
        conn.execute(
            "INSERT INTO bench_raw_account SELECT g, 0 FROM generate_series(1, %s) g", [accounts]
        )
        conn.execute("ANALYZE bench_raw_account")


def drop() -> None:
    with _connect() as conn:
        for table in TABLES:
            conn.execute(f"DROP TABLE IF EXISTS {table}")


def worker(duration: float, accounts: int, index: int, barrier) -> list[float]:
    """One process: the raw transaction on random accounts for `duration` s after the
    barrier; each one's latency in seconds."""
    conn = _connect()
    pick = random.Random(index).randint
    latencies = []
    barrier.wait(timeout=60)
    end = time.perf_counter() + duration
    while time.perf_counter() < end:
        account = pick(1, accounts)
        began = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(
                "SELECT balance FROM bench_raw_account WHERE id = %s FOR UPDATE",
                [account],
                prepare=True,
            )
            cur.execute(
                "INSERT INTO bench_raw_posting (account_id, amount) VALUES (%s, 1)",
                [account],
                prepare=True,
            )
            cur.execute(
                "UPDATE bench_raw_account SET balance = balance + 1 WHERE id = %s",
                [account],
                prepare=True,
            )
        latencies.append(time.perf_counter() - began)
    conn.close()
    return latencies


def measure(workers: int, duration: float, accounts: int = 1000) -> dict:
    """Transactions/s and p50/p99 ms at `workers` processes over `duration` seconds."""
    prepare(accounts)
    try:
        reports, _started, _cpu = timing.run_workers(
            worker, lambda w: (duration, accounts, w), workers, timeout=duration + 60
        )
    finally:
        drop()
    latencies = sorted(x for report in reports for x in report)
    n = len(latencies)
    return {
        "rate": n / duration,
        "p50": latencies[n // 2] * 1000 if n else 0.0,
        "p99": latencies[min(n - 1, int(n * 0.99))] * 1000 if n else 0.0,
        "calls": n,
    }


def main(argv: list[str]) -> int:
    args, version, sync = common.start("bench/raw.py", parse_args, argv)
    print(f"cores: {os.cpu_count()}  database: {version.split(' on ')[0]}  sync={sync}")
    r = measure(args.workers, args.duration, args.accounts)
    print(
        f"raw psycopg lock+insert+update at {args.workers} workers: {r['rate']:.1f} tx/s,"
        f" p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms ({r['calls']} transactions)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
