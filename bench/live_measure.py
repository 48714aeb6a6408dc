"""What bench/live.py measures besides the clients' own figures: the CPU of each group
of processes and of the machine, transactions elsewhere that delay the publisher,
Redis, and daphne's log; and the quantiles it prints."""

from __future__ import annotations

import contextlib
import math
import re
import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from common import (
    process_cpu,
)
from timing import (
    machine_jiffies,
)

LOG_LINE = re.compile(r"^\S+ \S+ (?P<level>[A-Z]+) +(?P<rest>.*)$")  # daphne's log format


def cpu_snapshot(pids: dict[str, list[int | None]]) -> dict:
    snap = {name: [process_cpu(pid) for pid in group] for name, group in pids.items()}
    snap["_machine"] = machine_jiffies()
    snap["_wall"] = time.monotonic()
    return snap


def cpu_delta(before: dict, after: dict) -> dict:
    """Per group: CPU seconds used between the snapshots (None if unreadable); the
    machine's busy% and softirq% of all cores, and the seconds between."""
    out = {}
    for name, values in before.items():
        if name.startswith("_"):
            continue
        pairs = list(zip(values, after[name], strict=True))
        if name == "postgres":  # a backend may end in between (an idle connection closed)
            pairs = [p for p in pairs if None not in p]
        out[name] = (
            None if not pairs or any(None in p for p in pairs) else sum(b - a for a, b in pairs)
        )
    machine = after["_machine"].since(before["_machine"])
    total = machine.total
    out["_busy"] = 100 * machine.busy / total if total else 0.0
    out["_softirq"] = 100 * machine.softirq / total if total else 0.0
    out["_wall"] = after["_wall"] - before["_wall"]
    return out


def quantile(ordered, q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


# --- the services -----------------------------------------------------------------------


def redis_info(url: str) -> tuple[str, int | None]:
    """(version, pid if the server runs on this machine) of the Redis at `url`."""
    import redis

    info = redis.Redis.from_url(url, socket_timeout=2).info("server")
    local = urlsplit(url).hostname in {None, "", "127.0.0.1", "localhost", "::1"}
    pid = info.get("process_id") if local else None
    if pid and not Path(f"/proc/{pid}").exists():
        pid = None  # another PID namespace
    return str(info.get("redis_version")), pid


def forget(prefix: str) -> None:
    """Delete this run's Redis keys (cache entries, channel-layer groups): all of them,
    and only them, are under the run's own prefix."""
    from django.conf import settings

    with contextlib.suppress(Exception):
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
        batch = []
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            batch.append(key)
            if len(batch) >= 500:
                client.unlink(*batch)
                batch = []
        if batch:
            client.unlink(*batch)


class XidWatch:
    """Samples, from a thread, transactions elsewhere on the PostgreSQL server that hold
    a transaction id for longer than `OLD` seconds. The live layer's publisher waits for
    every transaction running when it takes a batch (`events.live.wait_settled`, up to
    2 s), whichever database it is in, so such transactions delay every broadcast."""

    OLD = 0.1
    EVERY = 0.2

    def __init__(self, url: str) -> None:
        self.url = url
        self.samples = self.hits = 0
        self.max_age = 0.0
        self.databases: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.error: str | None = None

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        import psycopg

        try:
            with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as db:
                while not self._stop.wait(self.EVERY):
                    rows = db.execute(
                        "SELECT coalesce(datname, '?'), extract(epoch FROM now() - xact_start)"
                        " FROM pg_stat_activity WHERE backend_xid IS NOT NULL"
                        " AND pid <> pg_backend_pid() AND now() - xact_start > %s",
                        [timedelta(seconds=self.OLD)],
                    ).fetchall()
                    self.samples += 1
                    if rows:
                        self.hits += 1
                    for name, age in rows:
                        self.max_age = max(self.max_age, float(age))
                        self.databases[name] = self.databases.get(name, 0) + 1
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"

    def summary(self) -> str:
        if self.error:
            return f"could not sample pg_stat_activity ({self.error})"
        if not self.hits:
            return f"none seen ({self.samples} samples)"
        names = ", ".join(f"{n} ({c})" for n, c in sorted(self.databases.items()))
        return (
            f"SEEN in {self.hits} of {self.samples} samples, oldest {self.max_age:.2f} s,"
            f" in databases: {names} -- each holds up every broadcast (wait_settled)"
        )


def local_database() -> bool:
    from django.db import connection

    return connection.settings_dict["HOST"] in {"", "127.0.0.1", "localhost", "::1"}


def backend_pids() -> list[int]:
    """The PostgreSQL backends serving this database now (the poster's, its publisher
    thread's and daphne's), for their CPU; other databases' are left out."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        pids = [row[0] for row in cursor.fetchall()]
    connection.close()  # this process stays out of the database during the window
    return [pid for pid in pids if Path(f"/proc/{pid}").exists()]


def settings_url() -> str:
    """The database's URL, from Django's settings."""
    from django.db import connection

    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


# --- daphne's log ---------------------------------------------------------------------


def daphne_log(path: Path, limit: int = 40) -> list[str]:
    """Daphne's stderr, summarized: each distinct warning or error with how often it
    came, then the last traceback (at most `limit` lines)."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    counts: dict[str, int] = {}
    last: list[str] = []
    block: list[str] = []
    for line in lines:
        level = LOG_LINE.match(line)
        if level and level["level"] in {"WARNING", "ERROR", "CRITICAL"}:
            counts[level["rest"]] = counts.get(level["rest"], 0) + 1
        if line.startswith("Traceback"):
            block = [line]
        elif block and (line.startswith((" ", "\t")) or not level):
            block.append(line)
            if not line.startswith((" ", "\t")) and line.strip():
                last = block  # the exception line ends a traceback (chained ones too)
        else:
            block = []
    summary = [f"{n} x {rest}" for rest, n in sorted(counts.items(), key=lambda kv: -kv[1])]
    if last:
        summary += ["last traceback:"] + [f"  {line}" for line in last[-limit:]]
    return summary
