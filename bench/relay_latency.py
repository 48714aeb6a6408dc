"""What the relay's polling adds: commit to broadcast, without websockets (issue 15).

DATABASE_URL=postgres://... REDIS_URL=redis://... .venv/bin/python bench/relay_latency.py

A member of the events group on the channel layer (as each daphne's hub is) records when
each event arrives; this process commits events at a steady rate with `manage.py
run_relay` running, and prints commit -> arrival per rate: p50, p99, max. At 1/s the
relay is mostly asleep in its idle back-off (5 ms doubling to 50 ms) when an event
commits; at 100/s it is awake.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import threading
import time

import common


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = common.Parser(prog="bench/relay_latency.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="1,10,100", help="events/s, comma-separated")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per rate (10)")
    return parser.parse_args(argv)


class Arrivals:
    """The events group's messages, as a hub receives them: seq -> arrival time."""

    def __init__(self) -> None:
        from channels.layers import get_channel_layer

        self.layer = get_channel_layer()
        self.at: dict[int, float] = {}
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(self._listen(), self.loop)
        if not self.ready.wait(10):
            raise common.BenchFailed("could not join the events group")

    async def _listen(self) -> None:
        from events import live

        channel = await self.layer.new_channel()
        await self.layer.group_add(live.GROUP, channel)
        self.ready.set()
        while True:
            message = await self.layer.receive(channel)
            if message.get("type") == live.MESSAGE_TYPE and "seq" in message:
                self.at.setdefault(message["seq"], time.time())


def commit_at(rate: float, duration: float) -> dict[int, float]:
    """Commit an event every 1/rate s for `duration` s: seq -> commit time."""
    from django.db import transaction

    import events

    committed: dict[int, float] = {}
    step = 1.0 / rate
    began = time.monotonic()
    n = 0
    while time.monotonic() - began < duration:
        with transaction.atomic():
            seq = events.publish("bench.latency", {"n": n}).seq
        committed[seq] = time.time()
        n += 1
        time.sleep(max(0.0, began + n * step - time.monotonic()))
    return committed


def main(argv: list[str]) -> int:
    args, version, sync = common.start("bench/relay_latency.py", parse_args, argv)
    try:
        rates = [float(r) for r in args.rates.split(",")]
    except ValueError:
        print(f"bench/relay_latency.py: --rates: not numbers: {args.rates}", file=sys.stderr)
        return 2
    print(f"cores: {os.cpu_count()}  database: {version.split(' on ')[0]}  sync={sync}")
    arrivals = Arrivals()
    with common.relay():
        time.sleep(1.0)
        for rate in rates:
            committed = commit_at(rate, args.duration)
            time.sleep(1.0)
            report(rate, committed, arrivals.at)
    return 0


def report(rate: float, committed: dict[int, float], arrived: dict[int, float]) -> None:
    delays = sorted((arrived[seq] - at) * 1000 for seq, at in committed.items() if seq in arrived)
    lost = len(committed) - len(delays)
    if not delays:
        print(f"{rate:>6g}/s: nothing arrived ({lost} lost)")
        return
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    print(
        f"{rate:>6g}/s: {len(delays)} events, commit -> broadcast p50"
        f" {statistics.median(delays):.1f} ms, p99 {p99:.1f} ms, max {delays[-1]:.1f} ms,"
        f" {lost} not arrived"
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
