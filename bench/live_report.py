"""What bench/live.py prints once the clients stopped: the posting, the deliveries and
their latency, the CPU each group of processes used, and the targets."""

from __future__ import annotations

import os
import statistics

from live_children import OverCapacity
from live_measure import quantile

TARGET_CLIENTS, TARGET_RATE, TARGET_P50_MS, TARGET_P99_MS = 1000, 100, 50.0, 150.0


def summarize(measured: dict) -> dict:
    """The client processes' results added up, and the posting's figures."""
    posted, results = measured["posted"], measured["results"]
    latencies = sorted(x for r in results for x in r["latencies"])
    closed: dict[str, int] = {}
    for r in results:
        for reason, n in r["closed"].items():
            closed[reason] = closed.get(reason, 0) + n
    commits = posted["commits"]
    last_receipt = max((r["last_receipt"] or 0 for r in results), default=0)
    first_commit = min(commits.values(), default=measured["ended"])
    return {
        **{
            key: sum(r[key] for r in results)
            for key in ("delivered", "lost", "duplicates", "out_of_order", "foreign", "other")
        },
        "posted": posted,
        "count": len(commits),
        "achieved": len(commits) / posted["seconds"] if posted["seconds"] else 0.0,
        "calls": sorted(posted["calls"]),
        "closed": closed,
        "latencies": latencies,
        "delivery_span": max(last_receipt - first_commit, 1e-9),
        "ms": [quantile(latencies, q) * 1000 for q in (0.5, 0.95, 0.99)],
        "worst": latencies[-1] * 1000 if latencies else float("nan"),
        "mean": statistics.fmean(latencies) * 1000 if latencies else float("nan"),
    }


def print_deliveries(args, f: dict, hellos: int) -> None:
    posted, calls, ms, count, delivered = (
        f["posted"],
        f["calls"],
        f["ms"],
        f["count"],
        f["delivered"],
    )
    print(
        f"\nposting: {count} awards in {posted['seconds']:.2f} s = {f['achieved']:.1f}/s"
        f" (asked {args.rate:g}/s; most behind schedule {posted['behind'] * 1000:.0f} ms);"
        f" award() p50 {quantile(calls, 0.5) * 1000:.1f} ms,"
        f" p99 {quantile(calls, 0.99) * 1000:.1f} ms"
    )
    print(
        f"deliveries: {delivered} of {count * hellos} expected ({count} events x {hellos}"
        f" clients); {delivered / posted['seconds']:.0f} messages/s over the posting window,"
        f" {delivered / f['delivery_span']:.0f}/s from first commit to last receipt"
        f" ({f['delivery_span']:.2f} s)"
    )
    print(
        f"latency commit->receive over {len(f['latencies'])} deliveries: p50 {ms[0]:.1f} ms,"
        f" p95 {ms[1]:.1f} ms, p99 {ms[2]:.1f} ms, max {f['worst']:.1f} ms"
        f" (mean {f['mean']:.1f} ms)"
    )
    print(
        f"lost (not received {args.grace:g} s after the last award): {f['lost']};"
        f" duplicated: {f['duplicates']}; out of seq order: {f['out_of_order']};"
        f" warm-up/other events: {f['foreign']};"
        f" pings/other messages: {f['other']}"
    )
    if posted["over_capacity"]:
        print(
            f"channel layer: {posted['over_capacity']} group sends during the posting window"
            " were dropped OVER CAPACITY (channels_redis; the poster logged the first"
            f" {OverCapacity.SHOW})"
        )
    if f["closed"]:
        print(
            "connections that ended early: "
            + "; ".join(f"{n} x {reason}" for reason, n in sorted(f["closed"].items()))
        )


def cpu_line(name: str, d: dict) -> str:
    v = d.get(name)
    return "-" if v is None else f"{v:.2f} s ({100 * v / d['_wall']:.0f}%)"


def print_cpu(args, window: dict, drain: dict, pids: dict, delivered: int, hellos: int) -> None:
    from django.db import connection

    cores = os.cpu_count() or 1
    print(
        f"cpu, seconds (% of one core) over the posting window ({window['_wall']:.1f} s);"
        f" machine busy {window['_busy']:.0f}% of {os.cpu_count()} cores:"
    )
    print(
        f"  daphne {cpu_line('daphne', window)}, clients {cpu_line('clients', window)},"
        f" poster {cpu_line('poster', window)}, redis-server {cpu_line('redis', window)}"
    )
    print(
        f"  until the clients stopped ({drain['_wall']:.1f} s, busy {drain['_busy']:.0f}%):"
        f" daphne {cpu_line('daphne', drain)}, clients {cpu_line('clients', drain)}"
    )
    ours = sum(window[k] or 0 for k in ("daphne", "clients", "poster", "redis", "postgres"))
    rest = max(window["_busy"] / 100 * cores * window["_wall"] - ours, 0)
    print(
        f"  PostgreSQL backends of {connection.settings_dict['NAME']}"
        f" ({len(pids['postgres'])}): {cpu_line('postgres', window)};"
        f" everything else (other load, kernel): {rest:.2f} s"
        f" ({100 * rest / window['_wall']:.0f}%), of which softirq"
        f" {window['_softirq'] / 100 * cores * window['_wall']:.2f} s"
    )
    if window.get("daphne") is not None and delivered:
        per = window["daphne"] / delivered
        print(
            f"  daphne per delivered message: {per * 1e6:.1f} us (posting window CPU /"
            f" deliveries, all {args.daphnes} process(es)); one event to {hellos} clients:"
            f" {per * hellos * 1000:.0f} ms of daphne CPU"
        )
        if window.get("clients") is not None:
            print(
                f"  clients per delivered message: {window['clients'] / delivered * 1e6:.1f} us"
                f" (posting window CPU / deliveries; {args.client_procs} client"
                f" process{'es' if args.client_procs != 1 else ''})"
            )
        if window["daphne"] / window["_wall"] >= 0.9 * args.daphnes:
            print(
                f"  note: daphne ran at {100 * window['daphne'] / window['_wall']:.0f}% of one"
                " core per process, its ceiling (one thread each): daphne is the bottleneck"
            )
    if window["_busy"] >= 90:
        print(
            f"  note: the machine was {window['_busy']:.0f}% busy: daphne, the clients, the"
            " poster and PostgreSQL competed for the cores"
        )


def print_targets(f: dict, hellos: int) -> None:
    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    ms, achieved, lost, duplicates = f["ms"], f["achieved"], f["lost"], f["duplicates"]
    print("\ntargets:")
    print(
        f"  clients: {hellos} connected (>= {TARGET_CLIENTS})"
        f" -> {verdict(hellos >= TARGET_CLIENTS)}"
    )
    print(
        f"  events: {achieved:.1f}/s posted (>= {TARGET_RATE})"
        f" -> {verdict(achieved >= TARGET_RATE * 0.99)}"
    )
    print(
        f"  latency p50: {ms[0]:.1f} ms (< {TARGET_P50_MS:g}) -> {verdict(ms[0] < TARGET_P50_MS)}"
    )
    print(
        f"  latency p99: {ms[2]:.1f} ms (< {TARGET_P99_MS:g}) -> {verdict(ms[2] < TARGET_P99_MS)}"
    )
    print(f"  lost/duplicated: {lost}/{duplicates} (0/0) -> {verdict(not lost and not duplicates)}")
