"""Relay failover: how long from SIGKILL of the leading `manage.py run_relay` to the next
event on a websocket client, and whether any event was lost or doubled (issue 15).

DATABASE_URL=postgres://... REDIS_URL=redis://... .venv/bin/python bench/failover.py --rounds 5

Each round: a leader and a standby relay, one daphne, one `/ws/stream/` client; a writer
commits an award every 20 ms; after 1 s the leader is killed (SIGKILL). Printed per round:
when the standby said it leads, when the first event committed after the kill reached
the client (events sent before the kill may still arrive meanwhile), and the client's
count of events lost and doubled. Then p50
and max over the rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import common

WRITE_EVERY = 0.02  # seconds between awards


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = common.Parser(prog="bench/failover.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=common.positive, default=5, help="kills (5)")
    parser.add_argument("--before", type=float, default=1.0, help="seconds before the kill")
    parser.add_argument("--after", type=float, default=2.0, help="seconds after the kill")
    return parser.parse_args(argv)


def award_loop(member_id: int, stop: threading.Event, written: list[tuple[int, float]]):
    """Awards every WRITE_EVERY s until `stop`; (seq, commit time) of each."""
    from django.db import connection

    from accounts.models import Member
    from events.models import Event
    from ledger.actions import award

    member = Member.objects.get(pk=member_id)
    while not stop.is_set():
        transfer = award(member, 1, reason="failover", idempotency_key=uuid.uuid4().hex)
        seq = Event.objects.filter(subject=f"transfer:{transfer.pk}").values_list("seq", flat=True)
        written.append((seq[0], time.monotonic()))
        time.sleep(WRITE_EVERY)
    connection.close()


def one_round(env: dict, base: str, made: dict, folder: Path, args) -> dict:
    from websockets.sync.client import connect

    from events.relay import STANDBY_LINE
    from tests.servers import spawn_relay, stop, wait_for_line

    leader_log, standby_log = folder / "leader.log", folder / "standby.log"
    for log in (leader_log, standby_log):
        log.unlink(missing_ok=True)
    leader = spawn_relay(env, leader_log)
    standby = None
    try:
        wait_for_line(leader_log, "relay: leading", leader)
        standby = spawn_relay(env, standby_log)
        wait_for_line(standby_log, STANDBY_LINE, standby)
        url = base.replace("http", "ws") + f"/ws/stream/?token={made['token']}"
        with connect(url, open_timeout=10) as ws:
            while json.loads(ws.recv(timeout=10))["type"] != "hello":
                pass
            received: list[tuple[int, float]] = []
            reader = threading.Thread(target=read_events, args=(ws, received), daemon=True)
            reader.start()
            written: list[tuple[int, float]] = []
            halt = threading.Event()
            writer = threading.Thread(target=award_loop, args=(made["member"], halt, written))
            writer.start()
            try:
                time.sleep(args.before)
                killed = time.monotonic()
                os.kill(leader.pid, signal.SIGKILL)  # our own child
                leader.wait(timeout=10)
                wait_for_line(standby_log, "relay: leading", standby, timeout=15)
                led = time.monotonic() - killed
                time.sleep(args.after)
            finally:
                halt.set()
                writer.join()
            want = {seq for seq, _ in written}
            deadline = time.monotonic() + 15
            while not want <= {seq for seq, _ in received} and time.monotonic() < deadline:
                time.sleep(0.05)
            ws.close()
            reader.join(5)
    finally:
        stop(leader)
        if standby is not None:
            stop(standby)
    got = [seq for seq, _ in received]
    first_written_after = [seq for seq, at in written if at > killed]
    arrived = dict(received)
    delivered_at = arrived.get(first_written_after[0]) if first_written_after else None
    return {
        "led_s": led,
        "next_event_s": (delivered_at - killed) if delivered_at else None,
        "written": len(want),
        "lost": len(want - set(got)),
        "doubled": len(got) - len(set(got)),
        "in_order": got == sorted(got),
    }


def read_events(ws, received: list[tuple[int, float]]) -> None:
    try:
        for text in ws:
            msg = json.loads(text)
            if msg.get("type") == "event":
                received.append((msg["seq"], time.monotonic()))
    except Exception:
        return  # closed


def main(argv: list[str]) -> int:
    args, version, _sync = common.start("bench/failover.py", parse_args, argv)
    from django.conf import settings

    from tests.servers import daphne, member_and_stream_token

    if not settings.REDIS_URL or not version:
        print("bench/failover.py: needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL)")
        return 2
    env = {
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "CACHE_KEY_PREFIX": settings.CACHE_KEY_PREFIX,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": os.environ["DJANGO_SECRET_KEY"],
    }
    made = member_and_stream_token(env, f"failover-{uuid.uuid4().hex[:8]}")
    print(
        f"cores: {os.cpu_count()}  database: {version.split(' on ')[0]}  rounds: {args.rounds}"
        f"  an award every {WRITE_EVERY * 1000:.0f} ms"
    )
    rows = []
    with tempfile.TemporaryDirectory() as folder, daphne(env) as base:
        for n in range(args.rounds):
            row = one_round(env, base, made, Path(folder), args)
            rows.append(row)
            print(
                f"round {n + 1}: standby led after {row['led_s']:.2f} s; the first event"
                f" committed after the kill reached the client after"
                f" {fmt(row['next_event_s'])} s;"
                f" {row['written']} written, {row['lost']} lost, {row['doubled']} doubled,"
                f" {'in' if row['in_order'] else 'OUT OF'} order"
            )
    summary(rows)
    return 0 if all(r["lost"] == 0 and r["doubled"] == 0 for r in rows) else 1


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def summary(rows: list[dict]) -> None:
    led = [r["led_s"] for r in rows]
    nxt = [r["next_event_s"] for r in rows if r["next_event_s"] is not None]
    print(
        f"takeover: p50 {statistics.median(led):.2f} s, max {max(led):.2f} s;"
        f" kill to the next event committed, at the client:"
        f" p50 {fmt(statistics.median(nxt) if nxt else None)} s,"
        f" max {fmt(max(nxt) if nxt else None)} s;"
        f" lost {sum(r['lost'] for r in rows)}, doubled {sum(r['doubled'] for r in rows)}"
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
