"""Timing a benchmark's forked workers, and what it prints of them: the figures of a
phase (rate, latency, where the CPU went), the integrity checks, and the targets.

Import it after `common` (which sets up the environment)."""

from __future__ import annotations

import statistics
import time
import traceback
from typing import NamedTuple

from common import CLOCK_TICKS, BenchFailed, before_fork, process_cpu

# --- measuring ------------------------------------------------------------------------


class Jiffies(NamedTuple):
    """CPU time over all cores, in clock ticks (CLOCK_TICKS a second), from /proc/stat:
    `busy` is neither idle nor iowait (softirq included); `total` everything."""

    busy: int
    iowait: int
    softirq: int
    total: int

    def since(self, before: Jiffies) -> Jiffies:
        return Jiffies(*(a - b for a, b in zip(self, before, strict=True)))


def machine_jiffies() -> Jiffies:
    """The machine's CPU time since boot (see Jiffies)."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle, iowait, softirq = values[3], values[4], values[6]
    total = sum(values[:8])  # guest time is already counted in user
    return Jiffies(total - idle - iowait, iowait, softirq, total)


def cpu_since(pid: int | None, before: float | None) -> float | None:
    """Seconds of CPU process `pid` used since it had used `before`; None if unreadable."""
    after = process_cpu(pid)
    return None if after is None or before is None else after - before


class BackendCpu:
    """A worker's database connection, opened before the clock starts, and the CPU this
    process and its PostgreSQL backend (read from /proc when `local`) use once `start`ed."""

    def __init__(self, local: bool) -> None:
        from django.db import connection

        with connection.cursor() as cursor:  # connect before the clock starts
            cursor.execute("SELECT pg_backend_pid()")
            self.backend = cursor.fetchone()[0]
        self.local = local
        self.server_before = process_cpu(self.backend) if local else None
        self.client_before = 0.0

    def start(self) -> None:
        self.client_before = time.process_time()

    def used(self) -> tuple[float, float | None]:
        """(this process's CPU seconds since `start`, its backend's since opened or None)."""
        client = time.process_time() - self.client_before
        server = cpu_since(self.backend, self.server_before) if self.local else None
        return client, server


def figures(
    latencies: list[float],
    wall: float,
    client: float,
    servers: list[float | None],
    relay_cpu: float | None,
    cpu: Jiffies,
) -> dict:
    """What a timed phase prints: calls, rate, p50/p99 ms; CPU ms per call of the workers
    (client), of their backends (server, None if one was unreadable) and of the relay
    (publisher, None if not run); busy% and iowait% of all cores, and others%: busy with
    anything but these (None if a backend's CPU was unreadable)."""
    calls = len(latencies)
    q = statistics.quantiles(latencies, n=100, method="inclusive") if calls > 1 else [0] * 99
    unread = None in servers
    ours = 0.0 if unread else client + sum(servers) + (relay_cpu or 0.0)
    busy = 100 * cpu.busy / cpu.total if cpu.total else 0.0
    return {
        "calls": calls,
        "wall": wall,
        "rate": calls / wall,
        "p50": q[49] * 1000,
        "p99": q[98] * 1000,
        "client_ms": client / calls * 1000,
        "server_ms": None if unread else sum(servers) / calls * 1000,
        "publisher_ms": None if relay_cpu is None else relay_cpu / calls * 1000,
        "busy": busy,
        "others": None
        if unread or not cpu.total
        else max(0.0, busy - 100 * ours / (cpu.total / CLOCK_TICKS)),
        "iowait": 100 * cpu.iowait / cpu.total if cpu.total else 0.0,
    }


def _worker(target, index: int, args: tuple, barrier, results) -> None:
    """A forked worker: put `(index, target(*args, barrier), None)` on `results`, or the
    traceback (breaking the barrier, so that nobody waits for this worker)."""
    from django.db import connections

    try:
        results.put((index, target(*args, barrier), None))
    except BaseException:
        barrier.abort()
        results.put((index, None, traceback.format_exc()))
    finally:
        connections.close_all()


def run_workers(
    target, args_of, workers: int, timeout: float, *, collect_timeout: float | None = None
) -> tuple[list, float, Jiffies]:
    """Fork `workers` processes running `target(*args_of(w), barrier)`, which waits on the
    barrier when ready and returns its report; release them together by the barrier, and
    collect every report (waiting up to `collect_timeout`, default `timeout`, for each).
    Returns (reports, the release time by perf_counter, the machine's CPU while they
    ran); BenchFailed naming every failure."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    barrier, results = ctx.Barrier(workers + 1), ctx.Queue()
    before_fork()
    procs = [
        ctx.Process(target=_worker, args=(target, w, args_of(w), barrier, results))
        for w in range(workers)
    ]
    for proc in procs:
        proc.start()
    errors, reports = [], []
    try:
        barrier.wait(timeout=timeout)
    except Exception:
        errors.append("start barrier broken (a worker failed before starting)")
    start = time.perf_counter()
    cpu_before = machine_jiffies()
    for _ in procs:
        _index, report, error = results.get(timeout=collect_timeout or timeout)
        if error:
            errors.append(error)
        else:
            reports.append(report)
    cpu = machine_jiffies().since(cpu_before)
    for proc in procs:
        proc.join(timeout=timeout)
        if proc.exitcode != 0:
            errors.append(f"worker pid {proc.pid} exited with code {proc.exitcode}")
    if errors:
        raise BenchFailed("benchmark failed:\n" + "\n".join(errors))
    return reports, start, cpu


class Report(NamedTuple):
    """What a worker returns: when it started (perf_counter; None: when the barrier
    released the workers) and ended, each call's latency in seconds, the CPU seconds it
    used and its backend's (None if unreadable)."""

    start: float | None
    end: float
    latencies: list[float]
    client: float
    server: float | None


def time_workers(
    target,
    args_of,
    workers: int,
    timeout: float,
    *,
    relay: int | None = None,
    collect_timeout: float | None = None,
) -> dict:
    """run_workers, `target` returning a Report, and the `figures` of the phase (the
    relay's CPU read from its pid `relay`, if it runs); BenchFailed if a worker failed."""
    relay_before = process_cpu(relay)
    reports, start, cpu = run_workers(
        target, args_of, workers, timeout, collect_timeout=collect_timeout
    )
    relay_cpu = cpu_since(relay, relay_before)
    began = min(start if r.start is None else r.start for r in reports)
    return figures(
        [lat for r in reports for lat in r.latencies],
        max(r.end for r in reports) - began,
        sum(r.client for r in reports),
        [r.server for r in reports],
        relay_cpu,
        cpu,
    )


def fmt(value: float | None, width: int, digits: int = 2) -> str:
    """A table cell: `value` right-aligned, or "-" when there is none."""
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.{digits}f}"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def median_target(what: str, workers: int, rounds: list[dict], target: float) -> str:
    """The targets line of a benchmark timed over rounds: their median rate."""
    rates = sorted(r["rate"] for r in rounds)
    median = statistics.median(rates)
    return (
        f"  {what} at {workers} workers: median {median:.0f}/s"
        f" (rounds {', '.join(f'{r:.0f}' for r in rates)}; >= {target})"
        f" -> {verdict(median >= target)}"
    )


def note_others(rounds, during: str, alone: str) -> None:
    """Say so when other work took more than 10% of the cores during a timed phase."""
    busiest = max((r["others"] or 0.0 for r in rounds), default=0.0)
    if busiest > 10:
        print(
            f"note: other work used up to {busiest:.0f}% of the cores during {during} (others%);"
            f" those figures understate what this machine does for {alone} alone"
        )


# --- integrity ------------------------------------------------------------------------


def checks_named(prefix: str) -> list[str]:
    """The registered integrity checks whose names start with `prefix` (e.g. "ledger.")."""
    from integrity.registry import all_checks

    return [check.name for check in all_checks() if check.name.startswith(prefix)]


def findings(report) -> int:
    """An integrity report's findings, plus one per check that could not run."""
    return sum(r.violations for r in report.checks) + sum(
        r.status == "error" for r in report.checks
    )


def print_checks(report, *, say_ok: bool = False) -> int:
    """One line per check of an integrity report, and the totals (with OK or NOT OK if
    `say_ok`); returns `findings(report)`."""
    for result in report.checks:
        line = f"  {result.status:<6} {result.name:<40} {result.violations:>6} found"
        line += f" {result.duration_ms:>9.1f} ms"
        if result.error:
            line += f"  {result.error}"
        elif result.sample:
            line += f"  e.g. {result.sample[:5]}"
        print(line)
    found = sum(r.violations for r in report.checks)
    errors = sum(r.status == "error" for r in report.checks)
    ok = f" -> {'OK' if report.ok else 'NOT OK'}" if say_ok else ""
    print(f"integrity: {len(report.checks)} checks, {found} findings, {errors} errors{ok}")
    return found + errors
