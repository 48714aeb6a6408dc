"""Benchmark the live layer: committed awards fanned out to websocket clients by daphne.

DATABASE_URL must name an existing PostgreSQL database (the script migrates it itself)
and REDIS_URL a Redis server (the channel layer; keys go under a fresh prefix per run):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/concord_bench \\
    REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/live.py [--clients 1000] [--client-procs 2] [--rate 100]
                                       [--duration 20] [--layer pubsub|core] [--daphnes 2]

What it does, in order:
  1. registers --members fresh members and creates one `events`-scope overlay token;
  2. starts --daphnes daphne processes accepting on one listening socket (`daphne --fd`;
     production settings, the same database, Redis and channel layer);
  3. opens --clients websockets on `/ws/stream/` spread over --client-procs processes
     (in batches of --ramp per process) and waits for every `hello`;
  4. a poster process awards 1 point to a random member --rate times a second for
     --duration seconds, noting `time.time()` as each `award()` returns (the commit);
  5. each client notes `time.time()` as each event arrives (one reading per socket read;
     a client process reads its sockets at most every TICK, 1 ms); --grace seconds after
     the last award the clients stop, and the transfers a connection did not receive by
     then count as lost for it.

The clients are a lean websocket client of the benchmark's own (bench/wsclient.py: RFC
6455 over non-blocking sockets, one epoll loop per client process, no extensions; the
child processes are in bench/live_children.py, the other measures in bench/live_measure.py):
with the `websockets` library
they cost ~19 us of CPU per message, two cores at the 100,000 messages/s of the target.
Now most of their CPU is the kernel's: a TCP read costs ~4 us on a small VM, whatever
the message count in it, so it is ~2 us per message when daphne writes several events
at once and up to ~5 us when it writes them one by one.

It prints delivery counts, commit-to-receive latency over every delivery, lost and
duplicated deliveries, the CPU daphne (and the clients, the poster and redis-server)
used during the posting window, and whether the targets were met. The clients run on
this machine too: on a small machine they compete with daphne for the cores (busy%).
It also samples pg_stat_activity for transactions elsewhere on the PostgreSQL server
that hold a transaction id: the publisher waits for them before each broadcast
(`events.live.wait_settled`), so they show up as latency. --asgi serves another ASGI
application (e.g. a variant on PYTHONPATH) to measure a change against the default.

Exit 0: the run completed (targets met or not); 1: the run failed (daphne died, no
client connected, a process failed); 2: bad arguments or environment (one line on stderr).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import common
from live_children import (
    client_process,
    die_with_parent,
    poster_process,
    receive,
    stop_process,
)
from live_measure import (
    XidWatch,
    backend_pids,
    cpu_delta,
    cpu_snapshot,
    daphne_log,
    forget,
    local_database,
    redis_info,
    settings_url,
)
from live_report import print_cpu, print_deliveries, print_targets, summarize
from wsclient import TICK

from config import processes

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 180.0  # seconds for every client to get its hello


# --- arguments ------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = common.bench_parser("bench/live.py", __doc__)
    parser.add_argument("--clients", type=common.positive, default=1000, help="websockets (1000)")
    parser.add_argument(
        "--client-procs", type=common.positive, default=2, help="client processes (2)"
    )
    parser.add_argument(
        "--rate", type=common.bounded(0.1, 10_000, "awards/s"), default=100.0, help="awards/s (100)"
    )
    parser.add_argument(
        "--duration",
        type=common.bounded(1, 600, "seconds"),
        default=20.0,
        help="posting seconds (20)",
    )
    parser.add_argument(
        "--grace", type=common.bounded(0.5, 120, "seconds"), default=5.0, help="seconds after (5)"
    )
    parser.add_argument("--layer", choices=("pubsub", "core"), default="pubsub")
    parser.add_argument(
        "--daphnes",
        type=common.positive,
        default=2,
        help="daphne processes sharing one listening socket (2: one per core here); each"
        " has its own hub",
    )
    parser.add_argument("--members", type=common.positive, default=200, help="members to pay (200)")
    parser.add_argument(
        "--ramp", type=common.positive, default=100, help="handshakes at once per client process"
    )
    parser.add_argument(
        "--asgi",
        default="config.asgi:application",
        help="what daphne serves (default config.asgi:application; to try a variant)",
    )
    args = parser.parse_args(argv)
    common.at_most("--client-procs", args.client_procs, 64)
    if args.client_procs > args.clients:
        raise common.Refused(
            f"--client-procs {args.client_procs} is more than --clients {args.clients}"
        )
    common.at_most("--clients", args.clients, 50_000)
    common.at_most("--members", args.members, 100_000)
    common.postgres_url()
    redis = os.environ.get("REDIS_URL", "").strip()
    if urlsplit(redis).scheme not in {"redis", "rediss"}:
        raise common.Refused(
            f"REDIS_URL={redis or '(unset)'} is not a Redis URL (set redis://...): the live"
            " layer needs the Redis channel layer to reach daphne from another process"
        )
    return args


def raise_fd_limit(needed: int) -> int:
    """Raise the soft open-files limit (children inherit it); returns the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = want
    if soft < needed:
        raise common.Refused(
            f"open files limit is {soft} (hard {hard}); {needed} are needed for the clients"
            " and daphne (raise it with ulimit -n)"
        )
    return soft


# --- main -------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    try:
        args = parse_args(argv)
        raise_fd_limit(args.clients + 512)
    except common.Refused as refused:
        print(f"bench/live.py: {refused}", file=sys.stderr)
        return 2
    run_id = uuid.uuid4().hex[:10]
    os.environ["CHANNEL_LAYER"] = args.layer
    # Every client holds the same overlay token: the per-token limit (20 by default, a
    # guard against a leaked link) would refuse all but a few of them.
    os.environ.setdefault("CONCORD_STREAM_MAX_PER_TOKEN", str(args.clients + 100))

    try:
        database = common.set_up_django()
    except common.Unusable as error:
        print(f"bench/live.py: {error}", file=sys.stderr)
        return 2

    procs: list = []  # multiprocessing children, stopped on the way out
    servers: list[subprocess.Popen] = []  # daphne and the relay
    workdir = Path(tempfile.mkdtemp(prefix="concord-bench-live-"))
    stderr_path = workdir / "daphne.stderr"
    kept = {"log": True}  # run() clears it when daphne logged nothing notable while measured

    def terminated(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminated)
    try:
        return run(args, run_id, database, procs, stderr_path, servers.append, kept)
    except common.Refused as refused:
        print(f"bench/live.py: {refused}", file=sys.stderr)
        return 2
    except common.BenchFailed as failed:
        print(f"bench/live.py: {failed}", file=sys.stderr)
        lines = daphne_log(stderr_path)
        if lines:
            print(f"daphne stderr ({stderr_path}):\n  " + "\n  ".join(lines), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench/live.py: interrupted; stopping what it started", file=sys.stderr)
        return 130
    finally:
        for proc in procs:
            stop_process(proc)
        for server in servers:
            processes.stop(server)
        forget(os.environ["CACHE_KEY_PREFIX"])
        # Stopped by SIGTERM, daphne may log errors for the connections it cancels
        # (channels_redis.pubsub cleaning up their channels): only what it logged while
        # measured decides whether its log is kept.
        if not kept["log"]:
            shutil.rmtree(workdir, ignore_errors=True)


def run(
    args, run_id: str, database: tuple, procs: list, stderr_path: Path, started, kept: dict
) -> int:
    """The run, in order (see the module's docstring); `started` is told of each server,
    `procs` of each child, and `kept["log"]` cleared if daphne's log holds nothing notable."""
    redis_pid = describe(args, *database)
    members, token, after = prepare(args, run_id)
    daphnes, relay, port = start_servers(args, stderr_path, started)
    clients, hellos = open_clients(args, port, token, after, procs)
    for proc in daphnes:
        if proc.poll() is not None:
            raise common.BenchFailed(f"daphne exited with code {proc.returncode}")
    if not hellos:
        raise common.BenchFailed("no client connected")
    poster = start_poster(args, run_id, members, procs)
    pids = {
        "daphne": [d.pid for d in daphnes],
        "clients": [p.pid for p, _ in clients],
        "poster": [poster[0].pid],
        "relay": [relay.pid],
        "redis": [redis_pid],
        "postgres": backend_pids() if local_database() else [],
    }
    measured = measure(args, pids, poster, clients)
    daphne_alive = all(d.poll() is None for d in daphnes)
    figures = summarize(measured)
    print_deliveries(args, figures, hellos)
    print_cpu(args, measured["window"], measured["drain"], pids, figures["delivered"], hellos)
    print(f"other transactions holding an xid > {XidWatch.OLD:g} s: {measured['xids']}")
    if not daphne_alive:
        codes = ", ".join(str(d.returncode) for d in daphnes if d.returncode is not None)
        print(f"daphne EXITED with code {codes}")
    lines = daphne_log(stderr_path)
    if lines:
        print(f"daphne stderr, warnings and errors ({stderr_path}):\n  " + "\n  ".join(lines))
    else:
        print("daphne stderr: no warnings or errors")
        kept["log"] = False
    print_targets(figures, hellos)
    return 0 if daphne_alive else 1


def describe(args, version: str, sync: str) -> int | None:
    """Print what the run uses; returns the pid of redis-server if it runs here."""
    from django.conf import settings

    try:
        redis_version, redis_pid = redis_info(settings.REDIS_URL)
    except Exception as error:
        raise common.Refused(f"cannot use Redis at {settings.REDIS_URL}: {error}") from None
    layer = settings.CHANNEL_LAYERS["default"]
    import channels_redis
    import daphne as daphne_pkg

    common.print_setup(version, sync)
    print(
        f"redis: {redis_version}  channel layer: {args.layer} ({layer['BACKEND']},"
        f" channels_redis {channels_redis.__version__})  prefix {layer['CONFIG']['prefix']}"
    )
    print(
        f"daphne {daphne_pkg.__version__}; clients: bench/live.py's own websocket client"
        f" (raw sockets, one epoll loop per process, reads at most every {TICK * 1000:g} ms)"
    )
    return redis_pid


def prepare(args, run_id: str) -> tuple[list, str, int]:
    """Members to pay, an `events` token and the seq the clients subscribe after
    (untimed); the relay starts there."""
    from django.utils import timezone

    from dashboard.actions import create_token
    from events.models import Event, RelayPosition

    began = time.perf_counter()
    members = common.register_members(f"vbench-{run_id}", args.members, username="live")
    common.maintain(common.AWARD_TABLES)
    token = create_token("events", label=f"bench live {run_id}").token
    after = Event.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    # The relay starts here: what a scratch database's earlier runs left is not this run's.
    RelayPosition.objects.update_or_create(
        name="default", defaults={"seq": after, "moved_at": timezone.now()}
    )
    print(
        f"members: {len(members)} registered in {time.perf_counter() - began:.1f} s (untimed);"
        f" token scope events; clients subscribe with after={after}"
    )
    return members, token, after


def start_servers(args, stderr_path: Path, started) -> tuple[list, subprocess.Popen, int]:
    """--daphnes daphne processes accepting on one listening socket (the kernel spreads
    the connections), with this process's environment (production settings, the same
    services), and the relay; (the daphnes, the relay, the port)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4096)
    listener.set_inheritable(True)
    port = listener.getsockname()[1]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    common.before_fork()
    daphnes = []
    with open(stderr_path, "wb") as stderr:
        for _ in range(args.daphnes):
            proc = subprocess.Popen(
                [sys.executable, "-m", "daphne", "--fd", str(listener.fileno()), args.asgi],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                pass_fds=(listener.fileno(),),
                preexec_fn=die_with_parent,
            )
            started(proc)
            daphnes.append(proc)
        # the relay, as a deployment runs it (one per database): it broadcasts the poster's
        # events; its line "relay: leading ..." says it works
        relay = subprocess.Popen(
            [sys.executable, "manage.py", "run_relay"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            preexec_fn=die_with_parent,
        )
        started(relay)
        if "leading" not in (relay.stdout.readline() or ""):
            raise common.BenchFailed(
                "run_relay did not lead (another relay holds this database's lock?)"
            )
    listener.close()
    try:
        for proc in daphnes:
            processes.wait_for_port(port, proc, what="daphne")
    except processes.ServerDown as down:
        raise common.BenchFailed(str(down)) from None
    print(
        f"daphne: {len(daphnes)} process(es), pid {', '.join(str(d.pid) for d in daphnes)},"
        f" serving {args.asgi} on 127.0.0.1:{port}; stderr -> {stderr_path}"
    )
    return daphnes, relay, port


def open_clients(args, port: int, token: str, after: int, procs: list) -> tuple[list, int]:
    """--clients websockets over --client-procs processes, each said hello (or failed);
    ([(process, pipe)], how many said hello)."""
    ctx = mp.get_context("fork")
    url = f"ws://127.0.0.1:{port}/ws/stream/?token={token}&after={after}"
    origin = f"http://127.0.0.1:{port}"
    shares = [
        args.clients // args.client_procs + (i < args.clients % args.client_procs)
        for i in range(args.client_procs)
    ]
    clients = []
    for i, share in enumerate(shares):
        parent, child = ctx.Pipe()
        proc = ctx.Process(
            target=client_process, args=(i, share, url, origin, args.ramp, child), daemon=True
        )
        proc.start()
        procs.append(proc)
        clients.append((proc, parent))
    began = time.monotonic()
    ready = [receive(conn, proc, READY_TIMEOUT, "client process")[1] for proc, conn in clients]
    hellos = sum(r["hellos"] for r in ready)
    errors = [e for r in ready for e in r["errors"]]
    extensions = sorted({e for r in ready for e in r["extensions"]})
    hello_seqs = sorted({s for r in ready for s in r["hello_seqs"]})
    print(
        f"clients: {hellos} of {args.clients} connected and said hello in"
        f" {time.monotonic() - began:.1f} s over {args.client_procs} processes"
        f" (batches of {args.ramp}); extensions: {', '.join(extensions) or 'none'};"
        f" hello seq {', '.join(map(str, hello_seqs))}"
    )
    if errors:
        distinct = sorted(set(errors))
        print(f"  {len(errors)} failed: " + "; ".join(distinct[:5]))
    return clients, hellos


def start_poster(args, run_id: str, members: list, procs: list) -> tuple:
    """The poster process, warmed up and waiting for "go"; (process, pipe)."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe()
    poster = ctx.Process(
        target=poster_process,
        args=(run_id, members, args.rate, args.duration, child),
        daemon=True,
    )
    poster.start()
    procs.append(poster)
    receive(parent, poster, 120, "poster")  # warmed up
    return poster, parent


def measure(args, pids: dict, poster: tuple, clients: list) -> dict:
    """Post for --duration seconds, wait --grace seconds, stop the clients: what the poster
    and the clients report, and the CPU over the posting window and until the clients
    stopped (from the same start)."""
    proc, pipe = poster
    with XidWatch(settings_url()) as xids:
        before = cpu_snapshot(pids)
        pipe.send("go")
        _, posted = receive(pipe, proc, args.duration + 120, "poster")
        after_posting = cpu_snapshot(pids)
        ended = time.time()
        time.sleep(args.grace)
        after_grace = cpu_snapshot(pids)
    for _, conn in clients:
        conn.send(("stop", posted["commits"]))
    results = [receive(conn, p, 300, "client process")[1] for p, conn in clients]
    for p, _ in clients:
        p.join(timeout=30)
    proc.join(timeout=30)
    return {
        "posted": posted,
        "results": results,
        "ended": ended,
        "window": cpu_delta(before, after_posting),
        "drain": cpu_delta(before, after_grace),
        "xids": xids.summary(),
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
