"""The restore drill: prove the newest backup restores.

Restore it into a scratch target (a new database on the same server, or a temporary
file), then, in a child process pointed at that target: `migrate --check` (the schema is
the code's) and the integrity report (every check but those about live processes, which a
copy cannot pass: `LIVE_CHECKS`); then compare each table's row count with the counts
taken in the backup's own snapshot. Any failure fails the drill: a `DrillRun` with
ok=False and the reason (the alert rule `drill_failed` reports it). The scratch target is
dropped afterwards."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from django.db import connection
from django.utils import timezone

from ops import backups
from ops.exceptions import OpsError
from ops.models import BackupRun, DrillRun

# Checks about running processes and the clock, not the data a backup holds: the relay's
# lag (a copy has no relay), holds past expiry (time moved on since the backup), and
# the cache (the copy's cache is empty).
LIVE_CHECKS = frozenset(
    {"events.relay_keeps_up", "ledger.no_expired_pending_hold", "dashboard.cache_matches_database"}
)
MANAGE = Path(__file__).resolve().parent.parent / "manage.py"


class DrillFailed(OpsError):
    """The restored copy is not what the backup promised (schema, integrity, rows)."""


def drill(path: Path | None = None) -> DrillRun:
    """Run the drill on `path` (default: the newest backup) and record it."""
    started = timezone.now()
    path = Path(path) if path else backups.newest_backup()
    run = BackupRun.objects.filter(path=str(path), ok=True).order_by("-pk").first()
    report: dict = {"backup": str(path)}
    restored = None
    try:
        restored = backups.restore(path, into=_scratch_name())
        report["restore_seconds"] = round(restored.seconds, 3)
        report["migrate_check"] = _child(restored.url, ["migrate", "--check", "--no-input"])
        report["integrity"] = _integrity(restored.url)
        report["row_counts"] = _compare(restored.url, run.row_counts if run else None)
        error = ""
    except OpsError as exc:
        error = str(exc)
    except Exception as exc:  # anything else is a failed drill too, recorded and alerted
        error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"
    finally:
        if restored is not None:
            backups.drop_target(restored)
    return DrillRun.objects.create(
        started_at=started,
        finished_at=timezone.now(),
        backup=run,
        path=str(path),
        ok=not error,
        restore_seconds=report.get("restore_seconds", 0),
        report=report,
        error=error,
    )


def _scratch_name() -> str:
    stamp = f"{os.getpid()}_{int(time.time())}"
    if connection.vendor == "postgresql":
        return f"concord_drill_{stamp}"
    return str(Path(tempfile.gettempdir()) / f"concord-drill-{stamp}.sqlite3")


def _child(url: str, args: list[str]) -> str:
    """`manage.py <args>` against the restored copy (embedded cache and layers: the copy
    must not touch the live Redis). Raises DrillFailed with its last line on failure."""
    # Nor the live processes' metrics: prometheus-client goes multiprocess whenever
    # PROMETHEUS_MULTIPROC_DIR is in the environment, even empty.
    dropped = {"REDIS_URL", "DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update({"DATABASE_URL": url, "DJANGO_DEBUG": "1"})
    result = subprocess.run(
        [sys.executable, str(MANAGE), *args],
        cwd=MANAGE.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if result.returncode not in (0, 1) or (result.returncode and args[0] == "migrate"):
        last = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1]
        raise DrillFailed(f"manage.py {args[0]} on the restored copy: {last}")
    return result.stdout


def _integrity(url: str) -> dict:
    from integrity.registry import all_checks

    names = [check.name for check in all_checks() if check.name not in LIVE_CHECKS]
    args = ["integrity_report", "--format", "json"]
    for name in names:
        args += ["--check", name]
    body = json.loads(_child(url, args))
    failed = [c["name"] for c in body["checks"] if c["status"] != "ok"]
    if failed:
        raise DrillFailed(f"integrity report on the restored copy: failing {', '.join(failed)}")
    return {"ok": True, "checks": len(body["checks"])}


def _compare(url: str, expected: dict | None) -> dict:
    """Each table's rows in the copy against the counts in the backup's snapshot."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            found = backups.count_rows(conn.cursor(), "sqlite")
        finally:
            conn.close()
    else:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(**backups._connect_kwargs(name)) as conn, conn.cursor() as cursor:
            found = backups.count_rows(cursor, "postgresql")
    if expected is None:
        return {"compared": False, "tables": len(found)}
    differ = {
        table: {"backup": expected.get(table), "restored": found.get(table)}
        for table in sorted(set(expected) | set(found))
        if expected.get(table) != found.get(table)
    }
    if differ:
        first = ", ".join(
            f"{t} {d['backup']} -> {d['restored']}" for t, d in list(differ.items())[:3]
        )
        raise DrillFailed(f"row counts differ in {len(differ)} table(s): {first}")
    return {"compared": True, "tables": len(found)}


__all__ = ["LIVE_CHECKS", "DrillFailed", "drill"]
