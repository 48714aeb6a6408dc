"""Benchmark awards through the Bot API over HTTP against in-process `award()`.

DATABASE_URL must name an existing PostgreSQL database (the script migrates it itself)
and REDIS_URL a Redis, as in production: without it each request also reads its API key
from the database and counts its rate limit in its own process, a set-up nobody deploys
(and slower: docs/benchmarks/2026-12-07-api-rounds.md), so the script refuses to run:

    psql -h 127.0.0.1 -U postgres -c 'create database concord_bench'
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/concord_bench \\
    REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/api.py [--duration 3] [--rounds 3] [--clients 8] \\
        [--servers 2] [--server uwsgi|gunicorn|granian|daphne] [--threads 4] [--pool N]

--rounds rounds (3 by default) of two phases of --duration seconds each, --clients
concurrent callers, released together (the server started once, before the first):
  1. in-process: each caller a forked process calling `ledger.actions.award`;
  2. HTTP: each caller a forked process POSTing /api/v1/ledger/awards (a new
     Idempotency-Key each time; a lean client on a plain socket, as wrk is, so that the
     callers take little of the cores the server needs), which calls the same `award()`:
     with --server uwsgi (the default, as deployed) to one uWSGI (config/uwsgi.ini,
     config.wsgi) with --servers workers of --threads threads (4 by default), a new
     connection per request as the reverse proxy opens them;
     with --server gunicorn to one gunicorn (config/gunicorn.py) with --servers workers
     of --threads threads (gthread; 1: sync workers), keep-alive;
     with --server granian to one granian (config.wsgi, a WSGI server in Rust: measured,
     not deployed) with --servers workers of --threads blocking threads and persistent
     database connections, keep-alive;
     with --server daphne to --servers daphne processes (config.asgi, callers spread over
     them; --pool N: DATABASE_POOL=N in theirs), keep-alive.
     DEBUG off.
Both with `manage.py run_relay` running (--no-relay: without), as deployed. It prints
awards/s, p50/p99 latency, CPU ms per award of the callers, of the servers (HTTP only:
the server's master and workers, or the daphne processes) and of PostgreSQL (every
postgres process on this machine, ended backends included), how busy the cores were,
and, after the last round, each round's ratio HTTP/in-process and HTTP p99, their
medians against the issue's targets (>= 0.5 of in-process, p99 < 50 ms). One pair of
phases is a noisy ratio on a shared machine, whose speed drifts by tens of percent
within minutes (in-process from 700 to 1,340 awards/s within an hour on one machine
here): each round pairs phases seconds apart, and their median is the figure. The
server idles through the in-process phases. Untimed, before the first round, the callers
award for two seconds in-process (a new database's tables get rows); and before each
phase the tables an award writes are analyzed, as autovacuum would while they grow. The
servers' connections outlive the phases, with the plans they made: without both, the
first run on a new database checked each posting's transfer by scanning every transfer,
for the whole run over HTTP (its ratio fell from 0.47 to 0.23 in three rounds), and
through the first in-process phase.
Run it on a quiet machine: every figure depends on what else runs.

Exit 0: every phase ran and every HTTP award answered 201; 1: a phase failed; 2: bad
arguments or environment (one line on stderr).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import socket
import statistics
import sys
import time
import uuid
from pathlib import Path

import common
from timing import Report, fmt, time_workers, verdict

from config.processes import ServerDown, free_port, stop, wait_for_port

TIMEOUT = 300
TARGET_RATIO, TARGET_P99_MS = 0.5, 50.0
SHORT = {"daphne": "d", "gunicorn": "g", "granian": "gr", "uwsgi": "u"}  # the HTTP line's name
MEMBERS: list[int] = []  # ids, for the HTTP callers
MEMBERS_REFS: list = []  # the same members (pk only), for in-process award()
# What an award over HTTP writes: the ledger's tables and the Idempotency-Key's answer.
TABLES = (*common.AWARD_TABLES, "api.IdempotentRequest")
WARM_UP_SECONDS = 2.0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = common.bench_parser("bench/api.py", __doc__)
    parser.add_argument(
        "--duration", type=common.bounded(0.5, 120, "seconds"), default=3.0, help="per phase"
    )
    parser.add_argument(
        "--rounds",
        type=common.positive,
        default=3,
        help="in-process then HTTP phases, alternated",
    )
    parser.add_argument("--clients", type=common.positive, default=8)
    parser.add_argument(
        "--server", choices=("daphne", "gunicorn", "granian", "uwsgi"), default="uwsgi"
    )
    parser.add_argument(
        "--servers",
        type=common.positive,
        default=os.cpu_count() or 1,
        help="daphne processes, or the WSGI server's workers",
    )
    parser.add_argument(
        "--threads",
        type=common.positive,
        default=None,
        help="per WSGI worker (default 4; gunicorn: gthread, 1: sync workers)",
    )
    parser.add_argument(
        "--pool", type=common.positive, default=None, help="DATABASE_POOL for daphne's processes"
    )
    parser.add_argument("--members", type=common.positive, default=200)
    parser.add_argument("--no-relay", action="store_true", help="run no manage.py run_relay")
    args = parser.parse_args(argv)
    common.postgres_url()
    common.at_most("--clients", args.clients, common.MAX_WORKERS)
    common.at_most("--rounds", args.rounds, 20)
    common.at_most("--servers", args.servers, 16)
    if args.pool is not None and args.server != "daphne":
        raise common.Refused("--pool is for --server daphne (WSGI workers keep their connections)")
    if args.threads is not None and args.server == "daphne":
        raise common.Refused("--threads is for --server gunicorn, granian or uwsgi")
    args.threads = args.threads or (1 if args.server == "daphne" else 4)
    if args.server == "granian" and importlib.util.find_spec("granian") is None:
        raise common.Refused("--server granian needs granian installed (the dev extra)")
    common.at_most("--threads", args.threads, 64)
    if not os.environ.get("REDIS_URL", "").strip():
        raise common.Refused(
            "REDIS_URL is unset: the API's key cache and shared rate limits run on Redis in"
            " production (set redis://...)"
        )
    return args


def in_process(phase: dict, index: int, barrier) -> Report:
    from ledger.actions import award

    rng = random.Random(f"{phase['key']}:{index}")
    warm = f"{phase['key']}:{index}:warm"
    award(rng.choice(MEMBERS_REFS), 1, reason="bench warm-up", idempotency_key=warm)
    barrier.wait(timeout=TIMEOUT)
    cpu_before = time.process_time()
    started = time.perf_counter()
    deadline, latencies, i = started + phase["duration"], [], 0
    while time.perf_counter() < deadline:
        began = time.perf_counter()
        award(
            rng.choice(MEMBERS_REFS),
            rng.randint(1, 100),
            reason="bench award",
            idempotency_key=f"{phase['key']}:{index}:{i}",
        )
        latencies.append(time.perf_counter() - began)
        i += 1
    return Report(started, time.perf_counter(), latencies, time.process_time() - cpu_before, None)


class Caller:
    """One caller's HTTP/1.1 client: requests written and answers read on a plain socket,
    as a load generator such as wrk does (http.client cost the callers ~2.5x the CPU per
    request, taken from the same cores as the server's). `fresh`: a new connection for
    every request, as a reverse proxy opens them to uWSGI; else one kept alive."""

    def __init__(self, port: int, *, fresh: bool) -> None:
        self.port, self.fresh, self.sock, self.buffer = port, fresh, None, b""

    def _connect(self) -> None:
        self.close()
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def _receive(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise common.BenchFailed("the server closed the connection before answering")
        self.buffer += chunk

    def post(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        """(status, body) of one POST: `head` is its request line and headers."""
        if self.fresh or self.sock is None:
            self._connect()
        self.sock.sendall(b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body))
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self._receive()
        header = self.buffer[:end].lower()
        at = header.find(b"\r\ncontent-length:")
        if at < 0:
            raise common.BenchFailed(f"an answer without Content-Length: {header[:300]!r}")
        length = int(header[at + 17 :].split(b"\r\n", 1)[0])
        while len(self.buffer) < end + 4 + length:
            self._receive()
        status, data = int(header[9:12]), self.buffer[end + 4 : end + 4 + length]
        self.buffer = self.buffer[end + 4 + length :]
        if b"\r\nconnection: close" in header:  # a worker recycled, say: connect again
            self.close()
        return status, data

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def post(caller: Caller, phase: dict, rng: random.Random, index: int, i: int) -> None:
    """One award through `caller`; BenchFailed unless it answers 201."""
    body = {"member_id": rng.choice(MEMBERS), "amount": rng.randint(1, 100), "reason": "b"}
    head = (
        "POST /api/v1/ledger/awards HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {phase['token']}\r\nContent-Type: application/json\r\n"
        f"Idempotency-Key: {phase['key']}:{index}:{i}\r\n"
    )
    status, data = caller.post(head.encode(), json.dumps(body).encode())
    if status != 201:
        raise common.BenchFailed(f"HTTP {status}: {data[:300]!r}")


def over_http(phase: dict, index: int, barrier) -> Report:
    port = phase["ports"][index % len(phase["ports"])]
    rng = random.Random(f"{phase['key']}:{index}")
    caller = Caller(port, fresh=phase["fresh"])
    post(caller, phase, rng, index, -1)  # connected and warm before the clock starts
    barrier.wait(timeout=TIMEOUT)
    cpu_before = time.process_time()
    started = time.perf_counter()
    deadline, latencies, i = started + phase["duration"], [], 0
    while time.perf_counter() < deadline:
        began = time.perf_counter()
        post(caller, phase, rng, index, i)
        latencies.append(time.perf_counter() - began)
        i += 1
    caller.close()
    return Report(started, time.perf_counter(), latencies, time.process_time() - cpu_before, None)


def start_servers(args: argparse.Namespace, env: dict) -> list:
    """[(process, port)]: --servers daphne processes, or one WSGI server's master."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    if args.server == "granian":
        port = free_port()
        command = [sys.executable, "-m", "granian", "--interface", "wsgi", "--host", "127.0.0.1",
                   "--port", str(port), "--workers", str(args.servers),
                   "--blocking-threads", str(args.threads), "--no-access-log",
                   "config.wsgi:application"]  # fmt: skip
        env = {**env, "DATABASE_CONN_MAX_AGE": env.get("DATABASE_CONN_MAX_AGE") or "600"}
        proc = subprocess.Popen(
            command, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port(port, proc, what="granian")
        return [(proc, port)]
    if args.server == "uwsgi":
        port = free_port()
        command = [str(Path(sys.executable).parent / "uwsgi"), "--ini", "config/uwsgi.ini",
                   "--processes", str(args.servers), "--threads", str(args.threads)]  # fmt: skip
        proc = subprocess.Popen(
            command,
            cwd=root,
            env={**env, "WEB_BIND": f"127.0.0.1:{port}"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(port, proc, what="uwsgi")
        return [(proc, port)]
    if args.server == "gunicorn":
        port = free_port()
        kind = "gthread" if args.threads > 1 else "sync"
        command = [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py",
                   "--bind", f"127.0.0.1:{port}", "--workers", str(args.servers),
                   "--worker-class", kind, "--threads", str(args.threads),
                   "config.wsgi:application"]  # fmt: skip
        proc = subprocess.Popen(
            command, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port(port, proc, what="gunicorn")
        return [(proc, port)]
    procs = []
    for _ in range(args.servers):
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
             "config.asgi:application"],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        procs.append((proc, port))
        wait_for_port(port, proc, what="daphne")
    return procs


def family_cpu(pid: int) -> float | None:
    """CPU seconds of `pid` (a server's master), its live children (the workers) and
    the children it has reaped (workers recycled after max-requests); None if the master
    is unreadable. A worker that ends while it is read counts once reaped."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            pids = list(map(int, children.read().split()))
    except OSError:
        return None
    master = common.process_cpu(pid, reaped=True)
    if master is None:
        return None
    return master + sum(common.process_cpu(p) or 0.0 for p in pids)


def warm(servers: list, token: str, requests: int, *, fresh: bool) -> None:
    """Boot and warm every server before its CPU is read: `requests` awards to each port
    (a WSGI server's workers boot after its master listens, and a process's first requests
    build what it keeps), then wait until the servers' CPU stops growing."""
    for _, port in servers:
        phase = {"key": f"warm:{uuid.uuid4().hex}", "token": token}
        caller = Caller(port, fresh=fresh)
        for i in range(requests):
            post(caller, phase, random.Random(i), 0, i)
        caller.close()
    last = None
    for _ in range(50):
        used = sum(family_cpu(proc.pid) or 0.0 for proc, _ in servers)
        if last is not None and used - last < 0.01:
            return
        last = used
        time.sleep(0.3)


def per_award(before: float | None, after: float | None, f: dict) -> float | None:
    """CPU ms per award of the phase `f` between two readings; None if either is missing."""
    return None if before is None or after is None else (after - before) / f["calls"] * 1000


def line(name: str, f: dict, server_ms: float | None, db_ms: float | None) -> None:
    print(
        f"{name:<11} {f['calls']:>7} {fmt(f['rate'], 9, 0)} {fmt(f['p50'], 7)} {fmt(f['p99'], 7)}"
        f" {fmt(f['client_ms'], 9)} {fmt(server_ms, 9)} {fmt(db_ms, 6)} {fmt(f['busy'], 6, 0)}"
    )


def one_round(
    args: argparse.Namespace,
    servers: list,
    token: str,
    run: str,
    number: int,
    name: str,
    *,
    fresh: bool,
) -> tuple[dict, dict]:
    """Round `number`: one in-process phase, then one HTTP phase, each after an ANALYZE
    of the tables an award writes (untimed) and printed as it ends; their figures."""
    if args.rounds > 1:
        print(f"round {number} of {args.rounds}")
    key = f"{run}:{number}"
    phase = {"key": f"bench:{key}:inproc", "duration": args.duration}
    common.analyze(TABLES)
    db_before = common.postgres_cpu()
    local = time_workers(in_process, lambda w: (phase, w), args.clients, TIMEOUT)
    line("in-process", local, None, per_award(db_before, common.postgres_cpu(), local))
    phase = {
        "fresh": fresh,
        "key": f"bench:{key}:http",
        "duration": args.duration,
        "ports": [port for _, port in servers],
        "token": token,
    }
    common.analyze(TABLES)
    before = [family_cpu(proc.pid) for proc, _ in servers]
    db_before = common.postgres_cpu()
    remote = time_workers(over_http, lambda w: (phase, w), args.clients, TIMEOUT)
    db_after = common.postgres_cpu()
    after = [family_cpu(proc.pid) for proc, _ in servers]
    used = sum(a - b for a, b in zip(after, before, strict=True) if a is not None and b is not None)
    line(
        f"HTTP {name}",
        remote,
        used / remote["calls"] * 1000,
        per_award(db_before, db_after, remote),
    )
    return local, remote


def summarize(rounds: list[tuple[dict, dict]]) -> None:
    """Each round's ratio (its HTTP phase against the in-process phase just before it, so
    that the machine's drift between rounds does not enter it) and HTTP p99; their medians
    against the targets."""
    ratios = [remote["rate"] / local["rate"] for local, remote in rounds]
    p99s = [remote["p99"] for _, remote in rounds]
    ratio, p99 = statistics.median(ratios), statistics.median(p99s)
    several = len(rounds) > 1
    print(
        f"HTTP/in-process: {ratio:.2f}"
        + (f" (median of {', '.join(f'{r:.2f}' for r in ratios)})" if several else "")
        + f" (target >= {TARGET_RATIO}) {verdict(ratio >= TARGET_RATIO)};"
        f" HTTP p99 {p99:.1f} ms"
        + (f" (median of {', '.join(f'{p:.1f}' for p in p99s)})" if several else "")
        + f" (target < {TARGET_P99_MS:g}) {verdict(p99 < TARGET_P99_MS)}"
    )


def main(argv: list[str]) -> int:
    args, version, sync = common.start("bench/api.py", parse_args, argv)
    global MEMBERS, MEMBERS_REFS
    from api.actions import create_key

    run_id = uuid.uuid4().hex[:10]
    common.print_setup(version, sync, workers=args.clients, live=True)
    refs = common.register_members(f"abench-{run_id}", args.members, username="api")
    MEMBERS_REFS, MEMBERS = refs, [m.pk for m in refs]
    token = create_key(label=f"bench {run_id}", scopes=["ledger:write"]).token
    print(common.maintain(TABLES))
    env = common.server_env(
        DJANGO_SECURE_SSL_REDIRECT="0",  # plain HTTP on the loopback, as behind TLS
        API_RATE_LIMITS="default=100000000/60,ledger:write=100000000/60",
        **({"DATABASE_POOL": str(args.pool)} if args.pool else {}),
    )
    what = {
        "daphne": "the daphne processes",
        "gunicorn": "gunicorn and its workers",
        "granian": "granian and its workers",
        "uwsgi": "uwsgi and its workers",
    }[args.server]
    print(
        f"cpu ms/award: client = the callers; server = {what} (HTTP only);"
        " db = every PostgreSQL process on this machine"
    )
    print(f"{'phase':<11} {'awards':>7} {'awards/s':>9} {'p50 ms':>7} {'p99 ms':>7}"
          f" {'client ms':>9} {'server ms':>9} {'db ms':>6} {'busy%':>6}")  # fmt: skip
    name = f"{SHORT[args.server]}x{args.servers}" + (f"t{args.threads}" if args.threads > 1 else "")
    name += f"p{args.pool}" if args.pool else ""
    rounds: list[tuple[dict, dict]] = []
    try:
        with common.relay(not args.no_relay):
            # Untimed: a new database's tables get the rows of a few seconds' awards
            # before the phases' plans are made on them (see `common.analyze`).
            warm_up = {"key": f"bench:{run_id}:warm-up", "duration": WARM_UP_SECONDS}
            time_workers(in_process, lambda w: (warm_up, w), args.clients, TIMEOUT)
            servers = start_servers(args, env)
            try:
                fresh = args.server == "uwsgi"
                warm(
                    servers,
                    token,
                    4 * args.threads * (args.servers if len(servers) == 1 else 1),
                    fresh=fresh,
                )
                for number in range(1, args.rounds + 1):
                    rounds.append(
                        one_round(args, servers, token, run_id, number, name, fresh=fresh)
                    )
            finally:
                for proc, _ in servers:
                    stop(proc)
    except (common.BenchFailed, ServerDown) as failed:
        print(failed, file=sys.stderr)
        return 1
    summarize(rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
