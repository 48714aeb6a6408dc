"""bench/live.py's child processes: the websocket clients and the poster, how they report
to the parent over a pipe, and how the parent stops them.

A child sends `(kind, payload)` tuples: a client process "ready" once its connections
said hello (or failed), then "result" after the parent's ("stop", commits); the poster
"warm" once warmed up, then "done" with what it posted after the parent's "go". Either
sends ("error", traceback) and exits 1 if it fails.
"""

from __future__ import annotations

import array
import contextlib
import ctypes
import logging
import os
import random
import signal
import time
import traceback

from common import BenchFailed
from wsclient import Clients, Connection

WARMUP_AWARDS = 20  # posted (and delivered) before the clock starts; not counted

try:  # loaded here: a Popen preexec_fn must not dlopen (the parent has threads)
    _LIBC = ctypes.CDLL(None, use_errno=True)
except OSError:
    _LIBC = None


def die_with_parent() -> None:
    """Linux: have the kernel SIGTERM this process if the benchmark dies (best effort)."""
    if _LIBC is not None:
        with contextlib.suppress(Exception):
            _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def stop_process(proc) -> None:
    if proc.pid is None:
        return
    proc.join(timeout=0)
    if proc.is_alive():
        proc.terminate()
        proc.join(timeout=5)
    if proc.is_alive():
        proc.kill()
        proc.join(timeout=5)


def receive(conn, proc, timeout: float, what: str):
    """The next message from a child, or BenchFailed if it died or took too long."""
    deadline = time.monotonic() + timeout
    while not conn.poll(0.2):
        if not proc.is_alive():
            raise BenchFailed(f"{what} (pid {proc.pid}) exited with code {proc.exitcode}")
        if time.monotonic() > deadline:
            raise BenchFailed(f"{what} (pid {proc.pid}) sent nothing within {timeout:g} s")
    kind, payload = conn.recv()
    if kind == "error":
        raise BenchFailed(f"{what} (pid {proc.pid}) failed:\n{payload}")
    return kind, payload


def child(body, conn, *args) -> None:
    """A forked child's life: dies with the parent, leaves SIGINT to it, runs
    `body(*args, conn)`; a failure goes to the parent as ("error", traceback), exit 1."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    from django.db import connections

    try:
        body(*args, conn)
    except BaseException:
        with contextlib.suppress(Exception):
            conn.send(("error", traceback.format_exc()))
        os._exit(1)
    finally:
        connections.close_all()


# --- clients ----------------------------------------------------------------------------


def client_process(index: int, count: int, url: str, origin: str, ramp: int, conn) -> None:
    """Open `count` websockets, report ready, record events until told to stop, then
    compare with the commits the parent sends and report latencies and counts."""
    child(_client, conn, count, url, origin, ramp)


def _client(count: int, url: str, origin: str, ramp: int, conn) -> None:
    clients = Clients(url, origin, conn)
    began = time.monotonic()
    errors = open_all(clients, count, ramp)
    connections = clients.connections
    conn.send(
        (
            "ready",
            {
                "hellos": sum(c.hello is not None for c in connections),
                "errors": errors,
                "seconds": time.monotonic() - began,
                "extensions": [],  # none offered (a server that accepts one fails)
                "hello_seqs": sorted({c.hello["seq"] for c in connections if c.hello}),
            },
        )
    )

    clients.serve()
    kind, commits = clients.message  # ("stop", {transfer_id: commit time})
    if kind != "stop":
        raise RuntimeError(f"the parent sent {kind!r}, not stop")
    stopped = time.time()
    result = tally(connections, commits)
    clients.close()
    conn.send(("result", {**result, "stopped": stopped}))


def open_all(clients: Clients, count: int, ramp: int) -> list[str]:
    """Open `count` connections, `ramp` at a time; why each that failed did."""
    errors: list[str] = []
    for start in range(0, count, ramp):
        batch = clients.open(min(ramp, count - start))
        errors += [c.failed for c in batch if c.failed and c.hello is None]
        if clients.message is not None:
            raise RuntimeError(f"the parent sent {clients.message[0]!r} before ready")
    return errors


def tally(connections: list[Connection], commits: dict[int, float]) -> dict:
    """What the connections that said hello received, against `commits` ({transfer id:
    commit time}): latencies, deliveries, duplicates, losses, and how connections ended."""
    latencies = array.array("d")
    delivered = duplicates = lost = foreign = late_in_order = 0
    closed: dict[str, int] = {}
    wanted = len(commits)
    for c in connections:
        if c.hello is None:
            continue
        if c.closed:
            closed[c.closed] = closed.get(c.closed, 0) + 1
        seen: set[int] = set()
        got: set[int] = set()
        last = -1
        for seq, tid, t in zip(c.seqs, c.tids, c.times, strict=True):
            if seq in seen:
                duplicates += 1
                continue
            seen.add(seq)
            if seq < last:
                late_in_order += 1
            last = max(last, seq)
            commit = commits.get(tid)
            if commit is None:
                foreign += 1  # a warm-up award
                continue
            got.add(tid)
            delivered += 1
            latencies.append(t - commit)
        lost += wanted - len(got)
    return {
        "latencies": latencies,
        "delivered": delivered,
        "duplicates": duplicates,
        "lost": lost,
        "foreign": foreign,
        "out_of_order": late_in_order,
        "other": sum(c.other for c in connections),
        "closed": closed,
        "last_receipt": max((c.times[-1] for c in connections if c.times), default=None),
    }


# --- poster -----------------------------------------------------------------------------


class OverCapacity(logging.Filter):
    """Counts channels_redis's "over capacity" records (a dropped group send); lets the
    first few through."""

    SHOW = 3

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if "over capacity" not in record.getMessage():
            return True
        self.count += 1
        return self.count <= self.SHOW


def poster_process(run_id: str, members: list, rate: float, duration: float, conn) -> None:
    """Award to `members` at a steady `rate` for `duration` seconds; send back
    {transfer id: commit}."""
    child(_poster, conn, run_id, members, rate, duration)


def _poster(run_id: str, members: list, rate: float, duration: float, conn) -> None:
    from ledger.actions import award

    dropped = OverCapacity()  # channels_redis (core) logs each group send it drops
    logging.getLogger("channels_redis.core").addFilter(dropped)
    rng = random.Random(run_id)
    for i in range(WARMUP_AWARDS):  # warm the connection, daphne and the clients
        award(
            rng.choice(members),
            1,
            reason="bench live warm-up",
            idempotency_key=f"lw:{run_id}:{i}",
        )
    time.sleep(1.0)
    conn.send(("warm", None))
    conn.recv()  # go

    def pay(i: int):
        return award(
            rng.choice(members), 1, reason="bench live", idempotency_key=f"lv:{run_id}:{i}"
        )

    posted = post(pay, rate, duration)
    conn.send(("done", {**posted, "over_capacity": dropped.count}))


def post(pay, rate: float, duration: float) -> dict:
    """Call `pay(i)` (returning a transfer) `rate` times a second for `duration` seconds,
    on schedule; the commit time of each transfer and how long each call took."""
    commits: dict[int, float] = {}
    calls = array.array("d")
    clock, perf = time.time, time.perf_counter
    interval = 1.0 / rate
    start = perf()
    stop = start + duration
    started = clock()
    behind = 0.0
    i = 0
    while True:
        due = start + i * interval
        if due >= stop:
            break
        now = perf()
        if due > now:
            time.sleep(due - now)
        else:
            behind = max(behind, now - due)
        began = perf()
        transfer = pay(i)
        commits[transfer.pk] = clock()
        calls.append(perf() - began)
        i += 1
    if perf() < stop:
        time.sleep(stop - perf())  # the window is --duration long unless it overran
    end = perf()
    return {
        "commits": commits,
        "seconds": end - start,
        "started": started,
        "calls": calls,
        "behind": behind,
    }
