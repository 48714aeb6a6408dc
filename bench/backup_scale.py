"""Backups, restores and drills at scale, and the metrics' cost on the award path there.

Makes its own PostgreSQL cluster (a temporary data directory, port and socket, WAL
archived into a pgBackRest repository beside it, as tests/ops/test_pgbackrest.py does;
the machine's cluster is not touched), migrates Concord into it, fills it with set-based
SQL (triggers off for the load only; the integrity report runs in the drills), then
times: `backup --logical` and `restore --into` (size, duration), the logical drill, a
pgBackRest full backup (size, duration), a point-in-time restore (duration, what the
restored copy holds against the target), the physical drill, and awards/s with and
without the metrics' statement timer (rounds alternate, same run). Removes the cluster
at the end. Needs root (or the postgres user) and PostgreSQL's server binaries.

    .venv/bin/python bench/backup_scale.py [--members 100000] [--postings 1000000]
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path


def _environment() -> None:
    """The private cluster's names, set before Django's settings are read (importing
    `common` reads them)."""
    import socket

    base = Path(tempfile.mkdtemp(prefix="concord-bench-ops-"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    os.environ.update(
        BENCH_BASE=str(base),
        BENCH_PORT=str(port),
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{port}/concord",
        BACKUP_DIR=str(base / "logical"),
        PGBACKREST_CONFIG=str(base / "pgbackrest.conf"),
        PGBACKREST_STANZA="bench",
        PGBACKREST_COMMAND=" ".join([*owner, "pgbackrest"]),
    )
    os.environ.pop("REDIS_URL", None)


if __name__ == "__main__":
    _environment()

import common  # noqa: E402
import metrics_overhead  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OWNER = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = common.bench_parser("backup_scale.py", __doc__)
    parser.add_argument("--members", type=common.positive, default=100_000)
    parser.add_argument("--postings", type=common.positive, default=1_000_000)
    parser.add_argument("--rounds", type=common.positive, default=4)
    parser.add_argument("--awards", type=common.positive, default=500)
    return parser.parse_args(argv)


def owner(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([*OWNER, *args], capture_output=True, text=True, check=check)


class Cluster:
    def __init__(self, base: Path, bindir: Path, data: Path | None = None, port: int = 0):
        from tests.servers import free_port

        self.base, self.bindir = base, bindir
        self.data, self.port = data or base / "data", port or free_port()

    def start(self) -> None:
        options = f"-p {self.port} -k {self.base / 'sockets'} -c listen_addresses=127.0.0.1"
        log = str(self.data.parent / f"{self.data.name}.log")
        owner(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options, "-w", "-l", log,
              "start")  # fmt: skip

    def stop(self) -> None:
        owner(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop",
              check=False)  # fmt: skip


def make_cluster() -> tuple[Cluster, Path]:
    """A private cluster archiving into an encrypted pgBackRest repository; its config."""
    bindir = Path(max(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name)))
    base = Path(os.environ["BENCH_BASE"])
    folders = [base / n for n in ("data", "repo", "repo/log", "repo/lock", "sockets")]
    for path in folders:
        path.mkdir()
    if OWNER:
        who = pwd.getpwnam("postgres")
        for path in (base, *folders):
            os.chown(path, who.pw_uid, who.pw_gid)
    os.chmod(base / "data", 0o700)
    cluster = Cluster(base, bindir, port=int(os.environ["BENCH_PORT"]))
    owner(str(bindir / "initdb"), "-D", str(cluster.data), "-A", "trust", "-U", "postgres")
    return cluster, base / "pgbackrest.conf"


def configure(cluster: Cluster, config: Path) -> None:
    import django

    django.setup()  # the environment names the cluster already; nothing connects yet
    from ops import physical

    repo = physical.Repository(
        stanza="bench",
        pg_path=cluster.data,
        pg_port=cluster.port,
        repo_path=cluster.base / "repo",
        socket_path=str(cluster.base / "sockets"),
        cipher_pass=uuid.uuid4().hex,
        retention_full=2,
    )
    config.write_text(physical.config_text(repo))
    config.chmod(0o644)
    with (cluster.data / "postgresql.conf").open("a") as conf:
        for key, value in physical.server_settings(config, "bench").items():
            conf.write(f"{key} = '{value}'\n")
        conf.write("max_wal_size = '4GB'\n")
    cluster.start()
    physical.run(config, "bench", "stanza-create")


LOAD = [
    "INSERT INTO accounts_member (id, display_name, language, is_active,"
    " created_at, email, email_normalized, referral_code)"
    " SELECT g, 'player ' || g, 'en', true, now(), '', NULL, code.v"
    " FROM generate_series(1, %(members)s) g, LATERAL (SELECT string_agg(substr(%(abc)s,"
    " ((g + 1000000000) / (31 ^ k)::bigint %% 31)::int + 1, 1), '' ORDER BY k DESC) AS v"
    " FROM generate_series(0, 7) k) code",
    "INSERT INTO accounts_identity (platform, external_id, username, first_name, last_name,"
    " is_bot, created_at, member_id)"
    " SELECT 'telegram', g::text, 'p' || g, '', '', false, now(), g"
    " FROM generate_series(1, %(members)s) g",
    "INSERT INTO accounts_profile (archetype, preferences, personality, welcomed,"
    " onboarding_completed, tutorial_completed, updated_at, member_id)"
    " SELECT '', '{}', '{}', false, false, false, now(), g FROM generate_series(1, %(members)s) g",
    "INSERT INTO ledger_account (currency_id, member_id, name, balance, held, version,"
    " created_at) SELECT c.id, g, '', CASE WHEN c.code = 'points' THEN 10 * %(each)s ELSE 0"
    " END, 0, CASE WHEN c.code = 'points' THEN %(each)s ELSE 0 END, now()"
    " FROM generate_series(1, %(members)s) g, ledger_currency c WHERE c.opens_on_signup",
    "INSERT INTO ledger_account (currency_id, member_id, name, created_at)"
    " SELECT id, NULL, 'issuance', now() FROM ledger_currency WHERE code = 'points'"
    " ON CONFLICT DO NOTHING",
    "INSERT INTO ledger_transfer (id, kind, idempotency_key, request_hash, reason, context,"
    " created_at) SELECT (g - 1) * %(each)s + j, 'award', 'scale:' || g || ':' || j, '',"
    " 'bench', '{}', now() FROM generate_series(1, %(members)s) g,"
    " generate_series(1, %(each)s) j",
    "INSERT INTO ledger_posting (transfer_id, account_id, amount, balance_after, version)"
    " SELECT (a.member_id - 1) * %(each)s + j, i.id, -10, NULL, NULL"
    " FROM ledger_account a JOIN ledger_currency c ON c.id = a.currency_id AND c.code = 'points'"
    " JOIN ledger_account i ON i.currency_id = c.id AND i.name = 'issuance',"
    " generate_series(1, %(each)s) j WHERE a.member_id IS NOT NULL"
    " UNION ALL SELECT (a.member_id - 1) * %(each)s + j, a.id, 10, 10 * j, j"
    " FROM ledger_account a JOIN ledger_currency c ON c.id = a.currency_id AND c.code = 'points',"
    " generate_series(1, %(each)s) j WHERE a.member_id IS NOT NULL",
]


def load(members: int, postings: int) -> float:
    from django.db import connection

    each = max(1, postings // members // 2)  # awards per member, two postings each
    started = time.perf_counter()
    raw = connection.connection
    with raw.transaction():
        raw.execute("SET LOCAL session_replication_role = replica")
        for statement in LOAD:
            raw.execute(statement, {"members": members, "each": each, "abc": ALPHABET})
        for table in ("accounts_member", "ledger_account", "ledger_transfer", "ledger_posting"):
            raw.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT max(id) FROM {table}))"
            )
    raw.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


def timed(fn):
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def mb(size: float) -> str:
    return f"{size / 1e6:,.0f} MB"


def logical() -> None:
    from ops import backups
    from ops.drill import drill

    run = backups.backup()
    print(f"backup --logical: {mb(run.size_bytes)} in {run.seconds:.1f} s")
    restored = backups.restore(Path(run.path), into="concord_bench_scratch")
    print(f"restore --into: {restored.seconds:.1f} s")
    backups.drop_target(restored)
    drilled, seconds = timed(lambda: drill(Path(run.path)))
    print(
        f"restore_drill (logical): {'passed' if drilled.ok else 'FAILED ' + drilled.error}"
        f" in {seconds:.1f} s (restore {drilled.restore_seconds:.1f} s)"
    )


def pgbackrest(cluster: Cluster, config: Path) -> None:
    from django.db import connection

    from ops import physical
    from ops.physical_drill import physical_drill

    run = physical.backup(config, "bench", "full")
    repo = sum(p.stat().st_size for p in (cluster.base / "repo").rglob("*") if p.is_file())
    print(
        f"pgBackRest full backup: {run.seconds:.1f} s, {mb(run.size_bytes)} stored"
        f" (repository {mb(repo)}, compressed and encrypted)"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE bench_marks (v text, at timestamptz default clock_timestamp())"
        )
        cursor.execute("INSERT INTO bench_marks (v) VALUES ('A')")
        time.sleep(1.1)
        cursor.execute("SELECT now()")
        (point,) = cursor.fetchone()
        time.sleep(1.1)
        cursor.execute("INSERT INTO bench_marks (v) VALUES ('B')")
        cursor.execute("SELECT pg_switch_wal()")
    physical.run(config, "bench", "check")
    target = cluster.base / "pitr"
    owner("mkdir", "-m", "700", str(target))
    _, seconds = timed(lambda: physical.restore(config, "bench", into=target, to=point))
    copy = Cluster(cluster.base, cluster.bindir, target)
    _, started = timed(copy.start)
    import psycopg

    began = time.perf_counter()
    while True:
        with psycopg.connect(host="127.0.0.1", port=copy.port, user="postgres",
                             dbname="concord", autocommit=True) as conn:  # fmt: skip
            if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                marks = conn.execute("SELECT v, at FROM bench_marks ORDER BY v").fetchall()
                break
        time.sleep(0.2)
    recovered = time.perf_counter() - began
    copy.stop()
    owner("rm", "-rf", str(target))
    last = marks[-1][1] if marks else None
    print(
        f"point-in-time restore to {point:%H:%M:%S.%f}: pgbackrest restore {seconds:.1f} s,"
        f" start {started:.1f} s, recovery {recovered:.1f} s; holds {[m[0] for m in marks]}"
        f" (last commit {(point - last).total_seconds():.2f} s before the target)"
        if last
        else "point-in-time restore: holds nothing"
    )
    drilled, seconds = timed(lambda: physical_drill(config, "bench", "concord"))
    print(
        f"restore_drill --physical: {'passed' if drilled.ok else 'FAILED ' + drilled.error}"
        f" in {seconds:.1f} s (verify {drilled.report.get('verify_seconds', 0):.1f} s,"
        f" tables locked to count and mark {drilled.report.get('point_seconds', 0):.2f} s,"
        f" restore and recovery {drilled.restore_seconds:.1f} s)"
    )


def awards(rounds: int, count: int) -> None:
    from django.db import connection

    from accounts.models import Member
    from ops.timing import _timer

    members = list(Member.objects.order_by("?")[:500])
    rates: dict[str, list[float]] = {"with": [], "without": []}
    tag = uuid.uuid4().hex[:6]
    for n in range(rounds):
        for mode in ("with", "without") if n % 2 == 0 else ("without", "with"):
            metrics_overhead._timed(connection, _timer, on=mode == "with")
            rate, _ = metrics_overhead.awards_per_second(members, count, f"bs-{tag}-{n}-{mode}")
            rates[mode].append(rate)
    metrics_overhead._timed(connection, _timer, on=True)
    for mode, values in rates.items():
        print(
            f"awards/s {mode} metrics: median {statistics.median(values):.0f}"
            f" (rounds {', '.join(f'{v:.0f}' for v in values)})"
        )


def main(argv: list[str]) -> int:
    cluster, config = make_cluster()
    try:
        configure(cluster, config)
        owner("psql", "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres", "-c",
              "CREATE DATABASE concord")  # fmt: skip
        args, version, sync = common.start("backup_scale.py", parse_args, argv)
        common.print_setup(version, sync, workers=1, name="a private cluster, WAL archived")
        seconds = load(args.members, args.postings)
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT (SELECT count(*) FROM accounts_member),"
                " (SELECT count(*) FROM ledger_posting), pg_database_size(current_database())"
            )
            members, postings, size = cursor.fetchone()
        print(f"loaded {members:,} members, {postings:,} postings in {seconds:.1f} s;"
              f" database {mb(size)}")  # fmt: skip
        logical()
        pgbackrest(cluster, config)
        awards(args.rounds, args.awards)
    finally:
        from django.db import connections

        connections.close_all()
        cluster.stop()
        if not os.environ.get("KEEP"):
            shutil.rmtree(cluster.base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
