"""The restore drill of the pgBackRest repository (`manage.py restore_drill --physical`).

1. `pgbackrest verify`: every file of every backup and archived WAL segment against
   its checksum (a damaged repository fails here, before anything is restored).
2. A known point: in the source cluster (the one the repository backs up: its port and
   socket from the configuration), every table locked in SHARE mode (writers wait, a
   second or so for a million rows), its rows counted, a named restore point created,
   the locks released; the WAL holding it is switched out and archived (`check`).
3. The repository restored to that restore point into a new data directory (made by
   the cluster's owner, through the prefix of PGBACKREST_COMMAND), started on a free
   port with its own socket, promoted.
4. There, in a child process: `migrate --check` and the integrity report (as the
   logical drill: `ops.drill`), and each table's rows against the counts of step 2.
5. The scratch cluster stopped and removed; a `DrillRun` recorded (path: the backup's
   label), failed with the first reason if any step failed."""

from __future__ import annotations

import shlex
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
from django.conf import settings
from django.db import connection
from django.utils import timezone

from ops import backups, physical
from ops.drill import DrillFailed, _child, _integrity
from ops.exceptions import OpsError
from ops.models import BackupRun, DrillRun


def _prefix() -> list[str]:
    """How to run a command as the cluster's owner: PGBACKREST_COMMAND without its last
    word (`runuser -u postgres --`, `sudo -u postgres`, or nothing)."""
    return shlex.split(settings.PGBACKREST_COMMAND)[:-1]


def _owner(*args: str) -> str:
    result = subprocess.run([*_prefix(), *args], capture_output=True, text=True, timeout=120)
    if result.returncode:
        raise DrillFailed(f"{args[0]}: {(result.stderr or result.stdout).strip()[:300]}")
    return result.stdout


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _section(config: Path, stanza: str) -> dict[str, str]:
    values, section = {}, None
    for line in Path(config).read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line.strip("[]")
        elif section == stanza and "=" in line:
            key, value = line.split("=", 1)
            values[key] = value
    return values


def _connect(host: str, port: int, database: str):
    db = connection.settings_dict
    kwargs = {"host": host, "port": port, "dbname": database, "autocommit": True}
    kwargs["user"] = db.get("USER") or "postgres"
    if db.get("PASSWORD"):
        kwargs["password"] = db["PASSWORD"]
    return psycopg.connect(connect_timeout=10, **kwargs)


def mark_point(host: str, port: int, database: str) -> tuple[str, dict[str, int]]:
    """Count every table's rows with writers held off, and name that point in the WAL."""
    name = f"concord-drill-{int(time.time() * 1000)}"
    with _connect(host, port, database) as conn:
        with conn.transaction(), conn.cursor() as cursor:
            names = backups.tables(cursor, "postgresql")
            if names:
                quoted = ", ".join(f'"{table}"' for table in names)
                cursor.execute(f"LOCK TABLE {quoted} IN SHARE MODE")
            counts = backups.count_rows(cursor, "postgresql")
            cursor.execute("SELECT pg_create_restore_point(%s)", [name])
        conn.execute("SELECT pg_switch_wal()")
    return name, counts


def _wait_promoted(host: str, port: int, database: str, limit: float = 600) -> None:
    deadline = time.monotonic() + limit
    while True:
        try:
            with _connect(host, port, database) as conn:
                if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                    return
        except psycopg.OperationalError:
            pass
        if time.monotonic() > deadline:
            raise DrillFailed(f"the restored cluster did not finish recovery in {limit:.0f} s")
        time.sleep(0.2)


def physical_drill(config: Path, stanza: str, database: str | None = None) -> DrillRun:
    """Run the physical drill against `database` (default: Concord's) and record it."""
    started = timezone.now()
    database = database or connection.settings_dict["NAME"]
    run = BackupRun.objects.filter(kind="pgbackrest", ok=True).order_by("-pk").first()
    report: dict = {"repository": str(config), "stanza": stanza, "database": database}
    scratch = None
    try:
        report["verify_seconds"] = _timed(lambda: physical.run(config, stanza, "verify"))
        source = _section(config, stanza)
        host = source.get("pg1-socket-path", "/var/run/postgresql")
        began = time.perf_counter()
        point, counts = mark_point(host, int(source.get("pg1-port", 5432)), database)
        report["point_seconds"] = round(time.perf_counter() - began, 3)  # writers waited
        physical.run(config, stanza, "check")  # waits until the point's WAL is archived
        report["restore_point"] = point
        scratch = Path(_owner("mktemp", "-d", f"{tempfile.gettempdir()}/concord-drill-XXXXXX"))
        scratch = Path(str(scratch).strip())
        report["restore_seconds"] = _restore(config, stanza, scratch, point, database, report)
        url = _url(report["port"], database)
        report["migrate_check"] = _child(url, ["migrate", "--check", "--no-input"])
        report["integrity"] = _integrity(url)
        report["row_counts"] = _compare(report["port"], database, counts)
        error = ""
    except (OpsError, RuntimeError) as exc:
        error = str(exc) or type(exc).__name__
    except Exception as exc:  # anything else is a failed drill too, recorded and alerted
        error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"
    finally:
        if scratch is not None:
            _remove(scratch)
    return DrillRun.objects.create(
        started_at=started,
        finished_at=timezone.now(),
        backup=run,
        path=f"pgbackrest:{stanza}:{run.path if run else 'newest'}",
        ok=not error,
        restore_seconds=report.get("restore_seconds", 0),
        report=report,
        error=error,
    )


def _timed(fn) -> float:
    began = time.perf_counter()
    fn()
    return round(time.perf_counter() - began, 3)


def _restore(config: Path, stanza: str, scratch: Path, point: str, database, report) -> float:
    began = time.perf_counter()
    data = scratch / "data"
    args = ["restore", f"--pg1-path={data}", "--archive-mode=off", "--type=name"]
    physical.run(config, stanza, *args, f"--target={point}", "--target-action=promote")
    port = _free_port()
    report["port"] = port
    bindir = Path(settings.PG_BINDIR)
    options = f"-p {port} -k {scratch} -c listen_addresses=127.0.0.1 -c archive_mode=off"
    _owner(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-w", "-t", "600", "-l",
           str(scratch / "server.log"), "start")  # fmt: skip
    _wait_promoted("127.0.0.1", port, database)
    return round(time.perf_counter() - began, 3)


def _url(port: int, database: str) -> str:
    db = connection.settings_dict
    auth = (db.get("USER") or "postgres") + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@127.0.0.1:{port}/{database}"


def _compare(port: int, database: str, expected: dict[str, int]) -> dict:
    with _connect("127.0.0.1", port, database) as conn, conn.cursor() as cursor:
        found = backups.count_rows(cursor, "postgresql")
    differ = sorted(t for t in set(expected) | set(found) if expected.get(t) != found.get(t))
    if differ:
        first = ", ".join(f"{t} {expected.get(t)} -> {found.get(t)}" for t in differ[:3])
        raise DrillFailed(f"row counts differ in {len(differ)} table(s): {first}")
    return {"compared": True, "tables": len(found), "rows": sum(found.values())}


def _remove(scratch: Path) -> None:
    data = scratch / "data"
    bindir = Path(settings.PG_BINDIR)
    subprocess.run(
        [*_prefix(), str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
        capture_output=True,
        timeout=120,
    )
    subprocess.run([*_prefix(), "rm", "-rf", str(scratch)], capture_output=True, timeout=600)


__all__ = ["mark_point", "physical_drill"]
