"""Stream abuse: 2,000 `/ws/stream/` connections, one abusive client and 50 replays from
seq 0, against daphne on PostgreSQL and Redis (issue 14's "done when").

DATABASE_URL must name a scratch PostgreSQL database (the script migrates it and adds
--log events to its log) and REDIS_URL a Redis server (keys under a fresh prefix):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/concord_bench \\
    REDIS_URL=redis://127.0.0.1:6379/0 \\
        .venv/bin/python bench/abuse.py [--clients 2000] [--replays 50] [--log 50000]

What it does, in order:
  1. makes a member and an `events` overlay token, and fills the event log to --log
     events (copies of a transfer event, as a long-running install would have);
  2. starts the relay (`manage.py run_relay`, from the log's top) and one daphne
     (production settings; STREAM_MAX_PER_TOKEN raised above what the run opens on the
     token);
  3. opens --clients stream connections (no Origin header, as bots connect) and waits
     for every `hello`;
  4. with them open, starts a /healthz sampler in a process of its own (one GET every
     50 ms; the clients' event loop does not skew its timings) and, while --replays
     clients replay from seq 0 (each gets STREAM_REPLAY_MAX events, then 4206), one
     abusive client replays from 0 too and loops for at least --abuse seconds: a
     100,000-deep JSON array, an ack with a 400-digit number, a flood of acks;
  5. posts one award and times its delivery to every one of the --clients streams,
     then stops the sampler and the abuser;
  6. closes every client and reads the overlay fleet until it shows none of them.

It prints the machine's cores and load, the figures, and whether the targets were met:
/healthz under 500 ms at p99 (p50 and max printed too) while the streams are open and
abused, and no ghost left in the fleet after they close. The clients run on the same
machine and compete with daphne for its cores.
Exit 0 targets met; 1 a target missed or the run failed; 2 bad arguments or environment.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid

import common
from stream_probes import DEEP, HUGE_ACK, hello, replay_from_0

HEALTHZ_EVERY = 0.05
TARGET_MS = 500


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = common.Parser(prog="bench/abuse.py", description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=common.positive, default=2000, help="stream connections")
    parser.add_argument(
        "--replays", type=common.positive, default=50, help="clients replaying from 0"
    )
    parser.add_argument("--log", type=common.positive, default=50_000, help="events in the log")
    parser.add_argument(
        "--abuse", type=common.positive, default=20, help="seconds of abuse at least"
    )
    return parser.parse_args(argv)


def prepare(log_size: int) -> tuple[str, int, int]:
    """A member and an events token (token, token pk, member pk); the log filled up."""
    from django.db import connection
    from django.utils import timezone

    from accounts.actions import register_member
    from dashboard.actions import create_token
    from events.models import Event, RelayPosition

    member = register_member(
        platform="web", external_id=f"abuse-{uuid.uuid4().hex[:8]}", username="Abuse bench"
    ).member
    token = create_token("events", label="bench/abuse.py")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM events_event")
        missing = max(0, log_size - cursor.fetchone()[0])
        cursor.execute(
            "INSERT INTO events_event (kind, subject, data, created_at)"
            " SELECT e.kind, e.subject, e.data, e.created_at"
            " FROM generate_series(1, %s), (SELECT * FROM events_event"
            "  WHERE kind = 'ledger.transfer_posted' ORDER BY seq DESC LIMIT 1) e",
            [missing],
        )
    # The relay starts here: the copies, as a long-running install's log, went out long ago.
    after = Event.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    RelayPosition.objects.update_or_create(
        name="default", defaults={"seq": after, "moved_at": timezone.now()}
    )
    connection.close()
    return token.token, token.pk, member.pk


# Its own process (not a fork of this one, whose event loop and threads are busy).
SAMPLER = """
import json, sys, threading, time, urllib.request
done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
samples, errors = [], 0
while not done.is_set():
    started = time.perf_counter()
    try:
        with opener.open(sys.argv[1] + "/healthz", timeout=10) as response:
            response.read()
    except Exception:
        errors += 1
    samples.append((time.perf_counter() - started) * 1000)
    time.sleep(float(sys.argv[2]))
print(json.dumps([samples, errors]))
"""


class HealthzSampler:
    """GET /healthz every HEALTHZ_EVERY s from `start()` to `stop()`."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SAMPLER, self.base, str(HEALTHZ_EVERY)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def stop(self) -> tuple[list[float], int]:
        out, _ = self.proc.communicate("", timeout=30)
        samples, errors = json.loads(out)
        return samples, errors


async def abuse(url: str, until: asyncio.Event) -> dict[str, int]:
    """One client: a replay from 0 and, until `until`, over and over what crashed
    consumers before (and left ghosts). What the server answered, counted."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    seen: dict[str, int] = {}

    def count(what: str) -> None:
        seen[what] = seen.get(what, 0) + 1

    async def once(kind: str, send) -> None:
        code = "no close within 0.3 s"
        try:
            async with connect(url, proxy=None, max_size=None, close_timeout=1) as ws:
                await asyncio.wait_for(hello(ws), 10)
                await send(ws)
                await asyncio.wait_for(ws.recv(), 0.3)
        except ConnectionClosed as closed:
            code = f"closed {closed.rcvd.code}" if closed.rcvd else "dropped"
        except TimeoutError:
            pass
        count(f"{kind} -> {code}")

    async def flood(ws):
        for _ in range(500):
            await ws.send('{"type":"ack","seq":1}')

    async def replay():
        _events, code = await replay_from_0(url)
        count(f"replay from 0 -> closed {code}")

    replaying = asyncio.create_task(replay())
    while not until.is_set():
        await once("100,000-deep array", lambda ws: ws.send(DEEP))
        await once("ack with a 400-digit number", lambda ws: ws.send(HUGE_ACK))
        await once("500 acks at once", flood)
    await replaying
    return seen


async def scenario(url: str, args, award, sampler: HealthzSampler) -> dict:
    from websockets.asyncio.client import connect

    started = time.perf_counter()
    streams = []
    for first in range(0, args.clients, 200):
        batch = [connect(url, proxy=None) for _ in range(first, min(args.clients, first + 200))]
        streams += await asyncio.gather(*batch)
    await asyncio.gather(*(asyncio.wait_for(hello(ws), 60) for ws in streams))
    opened = time.perf_counter() - started

    sampler.start()
    until = asyncio.Event()
    abuse_started = time.perf_counter()
    abuser = asyncio.create_task(abuse(url, until))
    replays = await asyncio.gather(*(replay_from_0(url) for _ in range(args.replays)))
    replayed = time.perf_counter() - abuse_started

    transfer = await asyncio.to_thread(award)
    posted = time.perf_counter()

    async def delivered(ws) -> float:
        while True:
            msg = json.loads(await ws.recv())
            if msg["type"] == "event" and msg["data"].get("transfer_id") == transfer:
                return time.perf_counter() - posted

    deliveries = await asyncio.wait_for(asyncio.gather(*(delivered(ws) for ws in streams)), 60)
    await asyncio.sleep(max(0.0, args.abuse - (time.perf_counter() - abuse_started)))
    until.set()
    seen = await abuser
    abused_for = time.perf_counter() - abuse_started
    samples, errors = await asyncio.to_thread(sampler.stop)
    await asyncio.gather(*(ws.close() for ws in streams))
    return {
        "opened": opened,
        "replays": replays,
        "replayed": replayed,
        "deliveries": deliveries,
        "abuse": seen,
        "abused_for": abused_for,
        "samples": samples,
        "errors": errors,
    }


def ghosts_after_close(token_pk: int, timeout: float = 30.0) -> int:
    """The token's connections in the fleet once the hub's heartbeat has written it."""
    from dashboard.hub import read_fleet

    deadline = time.monotonic() + timeout
    while True:
        left = [row for row in read_fleet() if row.get("token_id") == token_pk]
        if not left or time.monotonic() > deadline:
            return len(left)
        time.sleep(1)


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def main(argv: list[str]) -> int:
    try:
        common.postgres_url()
    except common.Refused as error:
        print(f"bench/abuse.py: {error}", file=sys.stderr)
        return 2
    if not os.environ.get("REDIS_URL"):
        print("bench/abuse.py: set REDIS_URL (cache, channel layer)", file=sys.stderr)
        return 2
    args, version, _sync = common.start("bench/abuse.py", parse_args, argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = args.clients + args.replays + 1000  # this process's sockets; daphne inherits it
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            print(f"bench/abuse.py: open files limit {hard} < {wanted}", file=sys.stderr)
            return 2
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return report(args, version, run(args))


def run(args) -> dict:
    """The relay and one daphne, the scenario against them, and the fleet afterwards:
    the scenario's outcome with daphne's CPU, the ghosts and the load averages."""
    from tests.servers import free_port, spawn_daphne, stop

    token, token_pk, member_pk = prepare(args.log)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    url = base.replace("http", "ws", 1) + f"/ws/stream/?token={token}"
    env = {
        name: os.environ[name]
        for name in ("DATABASE_URL", "REDIS_URL", "CACHE_KEY_PREFIX", "DJANGO_SECRET_KEY")
    }
    env |= {
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "CONCORD_STREAM_MAX_PER_TOKEN": str(args.clients + args.replays + 100),
    }

    def award() -> int:
        from accounts.models import Member
        from ledger.actions import award as pay

        transfer = pay(
            Member.objects.get(pk=member_pk),
            5,
            reason="abuse bench",
            idempotency_key=uuid.uuid4().hex,
        )
        return transfer.pk  # the relay broadcasts it

    common.before_fork()
    load_before = os.getloadavg()
    with common.relay():
        proc = spawn_daphne(env, port, stderr=subprocess.DEVNULL)
        sampler = HealthzSampler(base)
        try:
            cpu_before = common.process_cpu(proc.pid)
            outcome = asyncio.run(scenario(url, args, award, sampler))
            cpu = (common.process_cpu(proc.pid) or 0) - (cpu_before or 0)
            ghosts = ghosts_after_close(token_pk)
            if proc.poll() is not None:
                raise common.BenchFailed(f"daphne exited with {proc.returncode}")
        finally:
            if sampler.proc is not None and sampler.proc.poll() is None:
                sampler.proc.kill()
            stop(proc)
    return {**outcome, "cpu": cpu, "ghosts": ghosts, "load": (load_before, os.getloadavg())}


def report(args, version: str, outcome: dict) -> int:
    """Print the figures and the targets; 0 if both were met, else 1."""
    from django.conf import settings

    samples, errors, ghosts = outcome["samples"], outcome["errors"], outcome["ghosts"]
    replays, deliveries = outcome["replays"], outcome["deliveries"]
    load_before, load_after = outcome["load"]
    print(
        f"cores: {os.cpu_count()}  load average before/after: {load_before[0]:.1f}/"
        f"{load_after[0]:.1f}  database: {version.split(' on ')[0]}  daphne: 1 process"
    )
    print(f"log: {args.log} events; STREAM_REPLAY_MAX {settings.STREAM_REPLAY_MAX}")
    print(f"streams: {args.clients} opened and greeted in {outcome['opened']:.1f} s (no Origin)")
    codes = sorted({code for _, code in replays})
    print(
        f"replays from 0: {len(replays)} clients, {sum(n for n, _ in replays)} events in"
        f" {outcome['replayed']:.1f} s (per client {min(n for n, _ in replays)}-"
        f"{max(n for n, _ in replays)}, closed with {codes})"
    )
    print(f"abuser ({outcome['abused_for']:.0f} s):")
    for what, count in sorted(outcome["abuse"].items()):
        print(f"  {what}: {count}")
    print(
        f"live event to all {len(deliveries)} streams during the run: p50"
        f" {statistics.median(deliveries) * 1000:.0f} ms, max {max(deliveries) * 1000:.0f} ms"
    )
    p50, p99, worst = statistics.median(samples), percentile(samples, 99), max(samples)
    print(
        f"/healthz: {len(samples)} requests, {errors} failed; p50 {p50:.0f} ms, p99 {p99:.0f} ms,"
        f" max {worst:.0f} ms"
    )
    print(f"daphne CPU over the run: {outcome['cpu']:.1f} s")
    print(f"fleet after every client closed: {ghosts} connections of the token")
    healthy = p99 < TARGET_MS and not errors
    print(
        f"\ntargets:\n  /healthz p99 under {TARGET_MS} ms with the streams open and abused:"
        f" {p99:.0f} ms -> {'met' if healthy else 'MISSED'}\n  no ghost after the clients"
        f" close: {ghosts} -> {'met' if ghosts == 0 else 'MISSED'}"
    )
    return 0 if healthy and ghosts == 0 else 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except common.BenchFailed as error:
        print(f"bench/abuse.py: {error}", file=sys.stderr)
        sys.exit(1)
